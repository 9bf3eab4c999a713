// Per-channel statistics of an activation [rows, C] (kernels/calib_kernels.h). A block is 32
// channels × 8 row lanes; each thread walks its rows (grid-stride), keeps fp32 extrema and fp64
// sums in registers and a block histogram in shared memory, then the 8 lanes merge through
// atomics into the caller's accumulators. Loads are 32 consecutive channels of one row per warp.
#include <algorithm>

#include "kernels/cuda_common.cuh"

namespace ms::kernels {
namespace cuda {

namespace {

template <typename T>
__global__ void channel_stats_kernel(const T* __restrict__ x, int64_t rows, int64_t C, int64_t ld,
                                     ChannelStats out) {
  __shared__ BlockHist shist;
  hist_init(shist, threadIdx.y * 32 + threadIdx.x, 256);
  __syncthreads();
  const int64_t c = blockIdx.x * 32 + threadIdx.x;
  ChannelAcc acc;
  if (c < C) {
    for (int64_t r = blockIdx.y * 8 + threadIdx.y; r < rows; r += int64_t(gridDim.y) * 8) {
      const float v = to_f(x[r * ld + c]);
      acc.add(v);
      if (out.hist) hist_add(shist, v);
    }
  }
  // Merge the 8 row lanes in shared memory before touching global atomics.
  __shared__ ChannelAcc lanes[8][32];
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int l = 1; l < 8; ++l) {
      const ChannelAcc& o = lanes[l][threadIdx.x];
      acc.absmax = fmaxf(acc.absmax, o.absmax);
      acc.mn = fminf(acc.mn, o.mn);
      acc.mx = fmaxf(acc.mx, o.mx);
      acc.sum += o.sum;
      acc.sumsq += o.sumsq;
    }
    acc.flush(out, c);
  }
  if (out.hist) {
    __syncthreads();
    hist_flush(shist, out.hist, threadIdx.y * 32 + threadIdx.x, 256);
  }
}

}  // namespace
}  // namespace cuda

bool cuda_kernels_built() { return true; }

void channel_stats_cuda(const void* x, DataType dtype, int64_t rows, int64_t C, int64_t ld,
                        const ChannelStats& out, void* stream) {
  if (rows == 0 || C == 0) return;
  cuda::upload_hist_edges();
  int sms = 132;
  int dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const int64_t cblocks = (C + 31) / 32;
  // Enough row blocks to fill the GPU about eight times over, each with at least 64 rows to walk.
  const int64_t want = std::max<int64_t>(1, (int64_t(sms) * 8 + cblocks - 1) / cblocks);
  const int64_t rblocks = std::min<int64_t>({want, (rows + 63) / 64, 65535});
  dim3 grid{unsigned(cblocks), unsigned(rblocks)}, block{32, 8};
  auto s = static_cast<cudaStream_t>(stream);
  if (dtype == DataType::F32)
    cuda::channel_stats_kernel<<<grid, block, 0, s>>>(static_cast<const float*>(x), rows, C, ld, out);
  else
    cuda::channel_stats_kernel<<<grid, block, 0, s>>>(static_cast<const __nv_bfloat16*>(x), rows, C, ld, out);
  cuda::check(cudaGetLastError(), "channel_stats kernel");
}

}  // namespace ms::kernels
