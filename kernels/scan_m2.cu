// Mamba-2 selective scan with the state statistics of every token fused (kernels/calib_kernels.h).
//
// Why sequential: the chunked SSD form computes y through matmuls and only materialises the
// state at chunk boundaries, but the statistics the views need (max |s| and mean |s| per
// (head, p, n)) cover every token's state. Rebuilding each token's state inside a chunk costs as
// much as advancing it, so here every state element is advanced token by token in registers:
// per element and token one multiply, one FMA for the update, one FMA for y, a max and an add for
// the statistics — nothing is written per token but y.
//
// Layout: a block owns 16 rows p of one head h of one sequence; 8 threads share a row, each
// holding SPT (a multiple of 4, >= N/8) states: state n = 32jj + 4·lane + q, so B and C are read
// as float4s and the 8 lanes of a row read one contiguous 128-byte run (no bank conflicts).
// Chunks of kChunk tokens are staged in shared memory (x rows, dt and exp(dt·A) per token, B and
// C of the head's group); each lane leaves its share of C·s in shared memory, and the shares are
// summed after the chunk by all threads, off the recurrence's critical path.
#include "kernels/cuda_common.cuh"

namespace ms::kernels {
namespace cuda {
namespace {

constexpr int kRows = 16, kLanes = 8;

__device__ __forceinline__ int state_of(int lane, int j) { return (j / 4) * 4 * kLanes + 4 * lane + (j % 4); }

template <typename T, int SPT, int kChunk>
__global__ void __launch_bounds__(kRows * kLanes) scan_m2_kernel(ScanM2Args a) {
  constexpr int NS = SPT * kLanes;
  __shared__ float xs[kChunk][kRows];
  __shared__ float parts[kChunk][kRows][kLanes];  // each lane's share of C·s per token
  __shared__ float dts[kChunk], decays[kChunk];
  __shared__ __align__(16) float Bs[kChunk][NS];
  __shared__ __align__(16) float Cs[kChunk][NS];

  const int tid = threadIdx.x, lane = tid % kLanes, rl = tid / kLanes;
  const int64_t h = blockIdx.x, b = blockIdx.z, p0 = int64_t(blockIdx.y) * kRows, p = p0 + rl;
  const int64_t g = h / (a.H / a.G);
  const bool live = p < a.P;
  const T* x = static_cast<const T*>(a.x);
  const T* dt_raw = static_cast<const T*>(a.dt_raw);
  const T* Bm = static_cast<const T*>(a.Bm);
  const T* Cm = static_cast<const T*>(a.Cm);
  const float A = a.A[h], D = a.D[h], bias = a.dt_bias[h];

  float s[SPT], amax[SPT], chunk_abs[SPT];
  double total_abs[SPT];
#pragma unroll
  for (int j = 0; j < SPT; ++j) {
    s[j] = amax[j] = 0.0f;
    total_abs[j] = 0.0;
  }

  for (int64_t t0 = 0; t0 < a.seqlen; t0 += kChunk) {
    const int len = a.seqlen - t0 < kChunk ? int(a.seqlen - t0) : kChunk;
    __syncthreads();
    for (int i = tid; i < kChunk * kRows; i += blockDim.x) {
      const int tt = i / kRows, r = i % kRows;
      const int64_t row = b * a.seqlen + t0 + tt;
      xs[tt][r] = (tt < len && p0 + r < a.P) ? to_f(x[row * a.ldx + h * a.P + p0 + r]) : 0.0f;
    }
    for (int i = tid; i < kChunk; i += blockDim.x) {
      float dt = 0.0f;
      if (i < len) {
        dt = softplus_f(to_f(dt_raw[(b * a.seqlen + t0 + i) * a.lddt + h]) + bias);
        dt = fminf(fmaxf(dt, a.dt_min), a.dt_max);
      }
      dts[i] = dt;
      decays[i] = expf(dt * A);
    }
    for (int i = tid; i < kChunk * NS; i += blockDim.x) {
      const int tt = i / NS, n = i % NS;
      const bool ok = tt < len && n < a.N;
      const int64_t at = (b * a.seqlen + t0 + tt) * a.ldbc + g * a.N + n;
      Bs[tt][n] = ok ? to_f(Bm[at]) : 0.0f;
      Cs[tt][n] = ok ? to_f(Cm[at]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < SPT; ++j) chunk_abs[j] = 0.0f;
    for (int tt = 0; tt < len; ++tt) {
      const float xv = xs[tt][rl], decay = decays[tt], dtx = dts[tt] * xv;
      float acc = 0.0f;
#pragma unroll
      for (int jj = 0; jj < SPT / 4; ++jj) {
        const float4 b4 = *reinterpret_cast<const float4*>(&Bs[tt][state_of(lane, 4 * jj)]);
        const float4 c4 = *reinterpret_cast<const float4*>(&Cs[tt][state_of(lane, 4 * jj)]);
        const float bq[4] = {b4.x, b4.y, b4.z, b4.w}, cq[4] = {c4.x, c4.y, c4.z, c4.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const int j = 4 * jj + q;
          s[j] = decay * s[j] + dtx * bq[q];
          acc += cq[q] * s[j];
          const float m = fabsf(s[j]);
          amax[j] = fmaxf(amax[j], m);
          chunk_abs[j] += m;
        }
      }
      parts[tt][rl][lane] = acc;
    }
#pragma unroll
    for (int j = 0; j < SPT; ++j) total_abs[j] += chunk_abs[j];
    __syncthreads();
    // Sum the shares off the recurrence's critical path, all threads, coalesced writes.
    for (int i = tid; i < len * kRows; i += blockDim.x) {
      const int tt = i / kRows, r = i % kRows;
      if (p0 + r >= a.P) continue;
      const float* pr = parts[tt][r];
      float acc = 0.0f;
#pragma unroll
      for (int l = 0; l < kLanes; ++l) acc += pr[l];
      a.y[(b * a.seqlen + t0 + tt) * a.H * a.P + h * a.P + p0 + r] = acc + D * xs[tt][r];
    }
  }
  if (live) {
#pragma unroll
    for (int j = 0; j < SPT; ++j) {
      const int n = state_of(lane, j);
      if (n < a.N) {
        const int64_t k = (h * a.P + p) * a.N + n;
        atomic_max_f(a.state_absmax + k, amax[j]);
        atomicAdd(a.state_sum_abs + k, total_abs[j]);
      }
    }
  }
}

template <typename T>
void launch(const ScanM2Args& a, cudaStream_t stream) {
  dim3 grid{unsigned(a.H), unsigned((a.P + kRows - 1) / kRows), unsigned(a.batch)}, block{kRows * kLanes};
  const int64_t spt = (a.N + kLanes - 1) / kLanes;
  if (spt <= 4) scan_m2_kernel<T, 4, 32><<<grid, block, 0, stream>>>(a);
  else if (spt <= 8) scan_m2_kernel<T, 8, 32><<<grid, block, 0, stream>>>(a);
  else if (spt <= 16) scan_m2_kernel<T, 16, 16><<<grid, block, 0, stream>>>(a);
  else scan_m2_kernel<T, 32, 8><<<grid, block, 0, stream>>>(a);
}

}  // namespace
}  // namespace cuda

void scan_m2_cuda(const ScanM2Args& a, void* stream) {
  if (a.batch == 0 || a.seqlen == 0 || a.H == 0 || a.P == 0) return;
  if (a.N < 1 || a.N > kMaxScanStatesM2)
    throw std::runtime_error("scan_m2: d_state " + std::to_string(a.N) + " is outside 1.." +
                             std::to_string(kMaxScanStatesM2));
  if (a.G < 1 || a.H % a.G != 0) throw std::runtime_error("scan_m2: heads must divide into groups");
  if (a.batch > 65535 || (a.P + cuda::kRows - 1) / cuda::kRows > 65535)
    throw std::runtime_error("scan_m2: batch or head_dim too large");
  auto s = static_cast<cudaStream_t>(stream);
  if (a.dtype == DataType::F32) cuda::launch<float>(a, s);
  else cuda::launch<__nv_bfloat16>(a, s);
  cuda::check(cudaGetLastError(), "scan_m2 kernel");
}

}  // namespace ms::kernels
