// The selective scans with the state quantized inside the recurrence (kernels/scan_quant.h).
//
// Why one block per state matrix: the scales of token t's quantizer are reductions over the whole
// [R, N] matrix h_t (a column max for the state and DSQ scales, a global max for the tensor
// scale), and token t + 1 cannot start before they are known. A block holds one matrix in
// registers (Mamba-1: a sequence's E × N; Mamba-2: one head's P × N) and pays two __syncthreads
// per token for the column reduction; everything per row (the output C·h, the channel and DSQ row
// scales) is a shuffle among the L lanes that share a row. Without a cross-row reduction (bits 16,
// or the per-channel method) rows are independent and a matrix is split over many small blocks.
//
// On Hopper (sm_90) a whole matrix can also be split over a thread-block cluster of up to 8 blocks:
// each block reduces its rows' column maxima as above, then the blocks exchange them through
// distributed shared memory with one cluster barrier per token (double-buffered by token parity,
// so a block that runs ahead cannot overwrite what a slower one still reads). The max is
// order-free, so the result is bit-identical to one block. It is worth it when sequences × heads
// leave most SMs idle, as in the live error preview (one sequence: one SM otherwise).
//
// Layout: L lanes per row (a power of two <= 32), each holding SPT consecutive states; a block of
// `threads` covers RP = threads / L rows per pass and MAXR passes (rows r0 + slot + k·RP). The
// arithmetic is scan_ref's, rounding for rounding (__fmul_rn / __fadd_rn: no fused multiply-add),
// so that it matches the ATen ops it replaces except for expf's last bit and the order of C·h.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <cooperative_groups.h>

#include "kernels/cuda_common.cuh"
#include "kernels/scan_quant.h"

namespace ms::kernels {
namespace cuda {
namespace {

constexpr int kThreads = 512;        // a block holding a whole matrix
constexpr int kTiledThreads = 128;   // a block of rows (no cross-row reduction)
constexpr int kMaxWarps = kThreads / 32;

struct KernelArgs {
  int64_t T = 0, H = 0, R = 0, N = 0, G = 1;
  bool m1 = true;  // A [R, N] and dt per row (Mamba-1), or A and dt per head (Mamba-2)
  const float *x, *dt, *A, *Bm, *Cm, *D;
  float *state, *y, *states;
  int bits = 16, method = 0, variant = 0;
  int lanes = 1;              // L
  int64_t rows_per_block = 0;
  int cluster = 1;            // blocks sharing one matrix (a thread-block cluster; sm_90)
};

constexpr int kMaxCluster = 8;  // the portable cluster size

int lanes_for(int64_t N, int spt) {
  int64_t need = (N + spt - 1) / spt, L = 1;
  while (L < need) L *= 2;
  return int(L);
}

__device__ __forceinline__ float shfl_max(float v, int width) {
  for (int off = 1; off < width; off <<= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

template <int SPT, int MAXR>
__global__ void __launch_bounds__(kThreads) scan_quant_kernel(KernelArgs a) {
  __shared__ float colpart[kMaxWarps][kMaxScanQuantStates];
  __shared__ float colscale[kMaxScanQuantStates];
  __shared__ float xfer[2][kMaxScanQuantStates];  // this block's column maxima, for the cluster

  const int L = a.lanes, tid = threadIdx.x, lane = tid % L, slot = tid / L;
  const int RP = blockDim.x / L, warp = tid / 32, wlane = tid % 32, warps = blockDim.x / 32;
  const int64_t bh = blockIdx.y, b = bh / a.H, h = bh % a.H, g = h / (a.H / a.G);
  const int64_t r0 = int64_t(blockIdx.x) * a.rows_per_block;
  const int64_t rend = min(a.R, r0 + a.rows_per_block);
  const bool quant = a.bits < 16;
  const float qmax = float((1 << (a.bits - 1)) - 1);
  const bool row_scale = a.method == int(StateQuantMethod::Channel) || a.method == int(StateQuantMethod::Dsq);
  const bool col_scale = a.method != int(StateQuantMethod::Channel);

  // Row of register k: rbase + k·RP (computed where used: registers go to the states).
  const int64_t rbase = r0 + slot;
#define ROW(k) (rbase + int64_t(k) * RP)
#define LIVE(k) (ROW(k) < rend)
  float s[MAXR][SPT];
  float* st0 = a.state + bh * a.R * a.N;
#pragma unroll
  for (int k = 0; k < MAXR; ++k) {
#pragma unroll
    for (int j = 0; j < SPT; ++j) {
      const int64_t n = int64_t(lane) * SPT + j;
      s[k][j] = (LIVE(k) && n < a.N) ? st0[ROW(k) * a.N + n] : 0.0f;
    }
  }
  const float head_A = a.m1 ? 0.0f : a.A[h];
  const float head_D = a.m1 ? 0.0f : a.D[h];

  for (int64_t t = 0; t < a.T; ++t) {
    const int64_t bt = b * a.T + t;
    const int64_t xrow = (bt * a.H + h) * a.R;  // x, y: [B, T, H, R] (H = 1 for Mamba-1)
    float bq[SPT], cq[SPT];
#pragma unroll
    for (int j = 0; j < SPT; ++j) {
      const int64_t n = int64_t(lane) * SPT + j;
      const bool ok = n < a.N;
      bq[j] = ok ? a.Bm[(bt * a.G + g) * a.N + n] : 0.0f;
      cq[j] = ok ? a.Cm[(bt * a.G + g) * a.N + n] : 0.0f;
    }
    float head_dt = 0.0f, head_decay = 0.0f;
    if (!a.m1) {
      head_dt = a.dt[bt * a.H + h];
      head_decay = expf(__fmul_rn(head_dt, head_A));
    }
    float ch[MAXR];
    float colmax[SPT];
#pragma unroll
    for (int j = 0; j < SPT; ++j) colmax[j] = 0.0f;
#pragma unroll
    for (int k = 0; k < MAXR; ++k) {
      const float xv = LIVE(k) ? a.x[xrow + ROW(k)] : 0.0f;
      const float dtv = a.m1 ? (LIVE(k) ? a.dt[bt * a.R + ROW(k)] : 0.0f) : head_dt;
      const float dtx = __fmul_rn(dtv, xv);  // Mamba-2's (dt·x)
      float acc = 0.0f, mx = 0.0f;
      double sum = 0.0;
#pragma unroll
      for (int j = 0; j < SPT; ++j) {
        const int64_t n = int64_t(lane) * SPT + j;
        const bool ok = LIVE(k) && n < a.N;
        float decay, dbx;
        if (a.m1) {
          decay = ok ? expf(__fmul_rn(a.A[ROW(k) * a.N + n], dtv)) : 0.0f;
          dbx = __fmul_rn(__fmul_rn(dtv, bq[j]), xv);  // (dt·B)·x
        } else {
          decay = head_decay;
          dbx = __fmul_rn(dtx, bq[j]);                 // (dt·x)·B
        }
        const float hv = ok ? __fadd_rn(__fmul_rn(decay, s[k][j]), dbx) : 0.0f;
        s[k][j] = hv;
        acc = __fmaf_rn(cq[j], hv, acc);
        mx = fmaxf(mx, fabsf(hv));
        sum += double(fabsf(hv));
      }
      // The row's output: its L lanes are consecutive in the warp.
      for (int off = 1; off < L; off <<= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
      if (LIVE(k) && lane == 0) {
        const float dv = a.m1 ? a.D[ROW(k)] : head_D;
        a.y[xrow + ROW(k)] = __fadd_rn(acc, __fmul_rn(xv, dv));
      }
      ch[k] = 1.0f;
      if (quant && row_scale) {
        mx = shfl_max(mx, L);
        for (int off = 1; off < L; off <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        float v = mx;
        if (a.method == int(StateQuantMethod::Dsq)) {
          const float mean = __fdiv_rn(float(sum), float(a.N));
          switch (a.variant) {
            case int(StateQuantVariant::AbsMax): v = mx; break;
            case int(StateQuantVariant::AbsMaxSqrt): v = sqrtf(mx); break;
            case int(StateQuantVariant::AbsMean): v = mean; break;
            default: v = sqrtf(mean); break;
          }
        }
        ch[k] = v == 0.0f ? 1.0f : v;
      }
      if (quant && col_scale) {
#pragma unroll
        for (int j = 0; j < SPT; ++j) colmax[j] = fmaxf(colmax[j], __fdiv_rn(fabsf(s[k][j]), ch[k]));
      }
    }
    if (quant) {
      float st[SPT];
#pragma unroll
      for (int j = 0; j < SPT; ++j) st[j] = 1.0f;
      if (col_scale) {
        // Column maxima: over the slots of this warp (lanes L, 2L, ... apart), then over warps.
#pragma unroll
        for (int j = 0; j < SPT; ++j)
          for (int off = L; off < 32; off <<= 1)
            colmax[j] = fmaxf(colmax[j], __shfl_xor_sync(0xffffffffu, colmax[j], off));
        if (wlane < L) {
#pragma unroll
          for (int j = 0; j < SPT; ++j) colpart[warp][lane * SPT + j] = colmax[j];
        }
        __syncthreads();
        for (int n = tid; n < a.N; n += blockDim.x) {
          float v = 0.0f;
          for (int w = 0; w < warps; ++w) v = fmaxf(v, colpart[w][n]);
          if (a.cluster > 1) xfer[t & 1][n] = v;
          else colscale[n] = v;
        }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
        if (a.cluster > 1) {
          cooperative_groups::cluster_group cl = cooperative_groups::this_cluster();
          cl.sync();  // every block's xfer[t & 1] is written (and visible cluster-wide)
          for (int n = tid; n < a.N; n += blockDim.x) {
            float v = 0.0f;
            for (int r = 0; r < a.cluster; ++r) v = fmaxf(v, cl.map_shared_rank(&xfer[t & 1][0], r)[n]);
            colscale[n] = v;
          }
        }
#endif
        __syncthreads();
        if (a.method == int(StateQuantMethod::Tensor)) {
          float all = 0.0f;
          for (int n = 0; n < a.N; ++n) all = fmaxf(all, colscale[n]);
          all = all == 0.0f ? 1.0f : all;
#pragma unroll
          for (int j = 0; j < SPT; ++j) st[j] = all;
        } else {
#pragma unroll
          for (int j = 0; j < SPT; ++j) {
            const int n = lane * SPT + j;
            const float v = n < a.N ? colscale[n] : 1.0f;
            st[j] = v == 0.0f ? 1.0f : v;
          }
        }
      }
#pragma unroll
      for (int k = 0; k < MAXR; ++k)
#pragma unroll
        for (int j = 0; j < SPT; ++j) {
          // state_fake_quant's order: (s·qmax)/M, rne, clamp, (q·M)/qmax.
          const float m = __fmul_rn(ch[k], st[j]);
          float q = rintf(__fdiv_rn(__fmul_rn(s[k][j], qmax), m));
          q = fminf(fmaxf(q, -qmax), qmax);
          s[k][j] = __fdiv_rn(__fmul_rn(q, m), qmax);
        }
    }
    if (a.states) {
      float* out = a.states + (bt * a.H + h) * a.R * a.N;
#pragma unroll
      for (int k = 0; k < MAXR; ++k)
#pragma unroll
        for (int j = 0; j < SPT; ++j) {
          const int64_t n = int64_t(lane) * SPT + j;
          if (LIVE(k) && n < a.N) out[ROW(k) * a.N + n] = s[k][j];
        }
    }
  }
#pragma unroll
  for (int k = 0; k < MAXR; ++k)
#pragma unroll
    for (int j = 0; j < SPT; ++j) {
      const int64_t n = int64_t(lane) * SPT + j;
      if (LIVE(k) && n < a.N) st0[ROW(k) * a.N + n] = s[k][j];
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // No block may leave while another can still read its shared memory.
  if (a.cluster > 1) cooperative_groups::this_cluster().sync();
#endif
#undef ROW
#undef LIVE
}

// The largest MAXR instantiated per SPT (registers: MAXR·SPT states per thread at 512 threads;
// 12 rows of 4 already spill a little at the 128 registers 512 threads allow, 16 (mamba-370m's
// E 2048 at N 16) a little more: still one block per sequence, through L1).
constexpr int kMaxRowsPerThread4 = 16, kMaxRowsPerThread8 = 6;

bool whole_matrix(const StateQuantPod& q) {
  return q.enabled() && q.method != StateQuantMethod::Channel;
}

// SMs and compute capability of the current device (asked once per device).
struct DeviceShape { int sms = 0, major = 0; };
DeviceShape device_shape() {
  static thread_local int cached_for = -1;
  static thread_local DeviceShape shape;
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (cached_for != dev) {
    check(cudaDeviceGetAttribute(&shape.sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&shape.major, cudaDevAttrComputeCapabilityMajor, dev), "cudaDeviceGetAttribute");
    cached_for = dev;
  }
  return shape;
}

// How many blocks of a cluster should share one whole matrix: more than one only on sm_90+, when
// sequences × heads leave SMs idle, and when the matrix has rows for more than 512 threads' worth.
// MAMBASCOPE_SCAN_CLUSTER=0 turns it off (kernel_parity compares both).
// A matrix beyond one block's registers (mamba-1.4b's and 2.8b's E at N 16) always takes as many
// blocks as it needs.
int cluster_size(const KernelArgs& a, int64_t matrices) {
  const int limit = scan_quant_cluster_limit();
  if (limit <= 1) return 1;
  const int64_t max_rows = scan_quant_max_rows(a.N);
  const int64_t need = (a.R + max_rows - 1) / max_rows;
  const int64_t want = matrices >= device_shape().sms ? 1 : (a.R * a.lanes + kThreads - 1) / kThreads;
  return int(std::min<int64_t>(limit, std::max<int64_t>({1, need, want})));
}

template <int SPT, int MAXR>
void launch_kernel(const KernelArgs& a, dim3 grid, int threads, cudaStream_t stream) {
  if (a.cluster <= 1) {
    scan_quant_kernel<SPT, MAXR><<<grid, threads, 0, stream>>>(a);
    return;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(unsigned(threads));
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = unsigned(a.cluster);
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  check(cudaLaunchKernelEx(&cfg, scan_quant_kernel<SPT, MAXR>, a), "scan_quant (cluster launch)");
}

template <int SPT>
void launch_spt(KernelArgs a, int64_t batch, cudaStream_t stream, bool whole) {
  a.lanes = lanes_for(a.N, SPT);
  int threads, per_thread;
  if (whole) {
    // A small matrix takes one row per slot and as few warps as hold it (less to synchronise);
    // a cluster splits the rows evenly over its blocks.
    a.cluster = cluster_size(a, batch * a.H);
    a.rows_per_block = (a.R + a.cluster - 1) / a.cluster;
    const int64_t need = a.rows_per_block * a.lanes;
    threads = need <= kThreads ? int((need + 31) / 32 * 32) : kThreads;
    const int64_t rp = threads / a.lanes;
    per_thread = int((a.rows_per_block + rp - 1) / rp);
  } else {
    threads = kTiledThreads;
    a.rows_per_block = threads / a.lanes;
    per_thread = 1;
  }
  dim3 grid{unsigned((a.R + a.rows_per_block - 1) / a.rows_per_block), unsigned(batch * a.H)};
  if (a.cluster > 1) grid.x = unsigned(a.cluster);  // a cluster spans exactly one matrix
  if (per_thread <= 1) launch_kernel<SPT, 1>(a, grid, threads, stream);
  else if (per_thread <= 4) launch_kernel<SPT, 4>(a, grid, threads, stream);
  else if constexpr (SPT == 4) {
    if (per_thread <= 12) launch_kernel<SPT, 12>(a, grid, threads, stream);
    else launch_kernel<SPT, kMaxRowsPerThread4>(a, grid, threads, stream);
  }
  else launch_kernel<SPT, kMaxRowsPerThread8>(a, grid, threads, stream);
}

void launch(KernelArgs a, int64_t batch, const StateQuantPod& q, void* stream, const char* what) {
  const int limit = scan_quant_cluster_limit();
  if (!scan_quant_cuda_supports(a.R, a.N, q, limit))
    throw std::runtime_error(std::string(what) + ": " + std::to_string(a.R) + " x " +
                             std::to_string(a.N) + " state matrices are beyond the kernel (" +
                             std::to_string(scan_quant_max_rows(a.N) * limit) + " rows at most)");
  if (batch * a.H > 65535) throw std::runtime_error(std::string(what) + ": batch x heads above 65535");
  a.bits = q.bits;
  a.method = int(q.method);
  a.variant = int(q.variant);
  auto s = static_cast<cudaStream_t>(stream);
  if (a.N <= 128) launch_spt<4>(a, batch, s, whole_matrix(q));
  else launch_spt<8>(a, batch, s, whole_matrix(q));
  check(cudaGetLastError(), what);
}

}  // namespace
}  // namespace cuda

int scan_quant_cluster_limit() {
  const char* env = std::getenv("MAMBASCOPE_SCAN_CLUSTER");
  if (env && std::strcmp(env, "0") == 0) return 1;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();  // clear it: no device is an answer here, not an error
    return 1;
  }
  return cuda::device_shape().major >= 9 ? cuda::kMaxCluster : 1;
}

void scan_quant_m1_cuda(const ScanQuantM1Args& a, void* stream) {
  if (a.batch == 0 || a.E == 0 || a.N == 0 || a.seqlen == 0) return;
  cuda::KernelArgs k;
  k.T = a.seqlen; k.H = 1; k.R = a.E; k.N = a.N; k.G = 1; k.m1 = true;
  k.x = a.x; k.dt = a.dt; k.A = a.A; k.Bm = a.Bm; k.Cm = a.Cm; k.D = a.D;
  k.state = a.state; k.y = a.y; k.states = a.states;
  cuda::launch(k, a.batch, a.quant, stream, "scan_quant_m1");
}

void scan_quant_m2_cuda(const ScanQuantM2Args& a, void* stream) {
  if (a.batch == 0 || a.H == 0 || a.P == 0 || a.N == 0 || a.seqlen == 0) return;
  if (a.G < 1 || a.H % a.G != 0) throw std::runtime_error("scan_quant_m2: heads not a multiple of groups");
  cuda::KernelArgs k;
  k.T = a.seqlen; k.H = a.H; k.R = a.P; k.N = a.N; k.G = a.G; k.m1 = false;
  k.x = a.x; k.dt = a.dt; k.A = a.A; k.Bm = a.Bm; k.Cm = a.Cm; k.D = a.D;
  k.state = a.state; k.y = a.y; k.states = a.states;
  cuda::launch(k, a.batch, a.quant, stream, "scan_quant_m2");
}

}  // namespace ms::kernels
