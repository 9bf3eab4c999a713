// Mamba-1 selective scan with the gate and every statistic fused (kernels/calib_kernels.h).
//
// Layout: a block owns 32 channels of one sequence; 8 threads share a channel, each holding
// SPT = 2, 4 or 8 of its states in registers (N = 16 → 2): runs of 2 or 4 consecutive states per
// lane (state_of), so each thread reads B and C as float2/float4 and the 8 lanes read one
// contiguous run (no bank conflicts). Eight lanes rather than four: at B = 8 the grid has only
// B·E/32 blocks, and the measured scan was latency-bound at 18 % occupancy (Nsight Compute).
// exp(dt·A) is exp2f(dt·A·log2 e) with A pre-scaled: one multiply fewer.
//
// Time runs sequentially in chunks of kChunk (16) tokens: the block stages the chunk's x,
// dt (softplus applied), gate, B and C in shared memory with coalesced loads; every thread
// advances its states token by token and leaves its share of C·s in shared memory; only then,
// off the recurrence's critical path, all threads sum the shares, gate, write the chunk's outputs
// (coalesced) and fold them into the output's channel statistics. Statistics never touch memory
// per token: max |s| and Σ|s| stay in registers (Σ in fp32 over one chunk, then fp64), the
// output's channel statistics likewise, the histogram in shared memory.
#include "kernels/cuda_common.cuh"

namespace ms::kernels {
namespace cuda {
namespace {

constexpr int kChannels = 32, kLanes = 8;

// The state a thread's j-th register holds: runs of 4 per lane, 16 per round of the 4 lanes.
template <int SPT>
__device__ __forceinline__ int state_of(int lane, int j) {
  if constexpr (SPT == 2) return 2 * lane + j;  // float2 runs: 8 lanes cover 16 states
  else return (j / 4) * 4 * kLanes + 4 * lane + (j % 4);
}

template <typename T, int SPT, int kChunk>
__global__ void __launch_bounds__(kChannels * kLanes) scan_m1_kernel(ScanM1Args a) {
  constexpr int NS = SPT * kLanes;  // states held by the block per channel (>= N, padded)
  __shared__ float xs[kChunk][kChannels], dts[kChunk][kChannels], gates[kChunk][kChannels];
  __shared__ float parts[kChunk][kChannels][kLanes];  // each lane's share of C·s per token
  __shared__ __align__(16) float Bs[kChunk][NS];
  __shared__ __align__(16) float Cs[kChunk][NS];
  __shared__ BlockHist shist;

  const int tid = threadIdx.x, lane = tid % kLanes, cl = tid / kLanes;
  const int64_t b = blockIdx.y, e0 = int64_t(blockIdx.x) * kChannels, e = e0 + cl;
  const bool live = e < a.E;
  const T* x = static_cast<const T*>(a.x);
  const T* dt_raw = static_cast<const T*>(a.dt_raw);
  const T* Bm = static_cast<const T*>(a.Bm);
  const T* Cm = static_cast<const T*>(a.Cm);
  const T* z = static_cast<const T*>(a.z);
  T* y = static_cast<T*>(a.y);
  const bool want_y_stats = a.y_stats.absmax != nullptr;
  const bool want_hist = a.y_stats.hist != nullptr;

  hist_init(shist, tid, blockDim.x);
  float A[SPT], s[SPT], amax[SPT], chunk_abs[SPT];
  double total_abs[SPT];
#pragma unroll
  for (int j = 0; j < SPT; ++j) {
    const int n = state_of<SPT>(lane, j);
    A[j] = (live && n < a.N) ? a.A[e * a.N + n] * 1.4426950408889634f : 0.0f;
    s[j] = amax[j] = 0.0f;
    total_abs[j] = 0.0;
  }
  // The output pass after each chunk: thread tid owns channel oc = tid % 32 at tokens
  // tid / 32 + 4k, so its statistics accumulator sees one channel only.
  const int oc = tid % kChannels;
  const bool out_live = e0 + oc < a.E;
  const float D_out = out_live ? a.D[e0 + oc] : 0.0f;
  ChannelAcc yacc;

  for (int64_t t0 = 0; t0 < a.seqlen; t0 += kChunk) {
    const int len = a.seqlen - t0 < kChunk ? int(a.seqlen - t0) : kChunk;
    __syncthreads();  // the previous chunk's outputs are written; the tiles may be reused
    // Stage the chunk: per token, 32 consecutive channels (one warp-wide load per row).
    for (int i = tid; i < kChunk * kChannels; i += blockDim.x) {
      const int tt = i / kChannels, c = i % kChannels;
      const int64_t ec = e0 + c;
      if (tt < len && ec < a.E) {
        const int64_t row = b * a.seqlen + t0 + tt;
        xs[tt][c] = to_f(x[row * a.ldx + ec]);
        dts[tt][c] = softplus_f(to_f(dt_raw[row * a.lddt + ec]) + a.dt_bias[ec]);
        gates[tt][c] = round_as<T>(silu_f(to_f(z[row * a.ldz + ec])));
      } else {
        xs[tt][c] = dts[tt][c] = gates[tt][c] = 0.0f;
      }
    }
    for (int i = tid; i < kChunk * NS; i += blockDim.x) {
      const int tt = i / NS, n = i % NS;
      const bool ok = tt < len && n < a.N;
      const int64_t row = b * a.seqlen + t0 + tt;
      Bs[tt][n] = ok ? to_f(Bm[row * a.ldbc + n]) : 0.0f;
      Cs[tt][n] = ok ? to_f(Cm[row * a.ldbc + n]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < SPT; ++j) chunk_abs[j] = 0.0f;
    for (int tt = 0; tt < len; ++tt) {
      const float xv = xs[tt][cl], dt = dts[tt][cl], dtx = dt * xv;
      float acc = 0.0f;
      // B and C of this thread's states, as float2 or float4 runs (see state_of).
      float bq[SPT], cq[SPT];
      if constexpr (SPT == 2) {
        const float2 b2 = *reinterpret_cast<const float2*>(&Bs[tt][state_of<SPT>(lane, 0)]);
        const float2 c2 = *reinterpret_cast<const float2*>(&Cs[tt][state_of<SPT>(lane, 0)]);
        bq[0] = b2.x; bq[1] = b2.y; cq[0] = c2.x; cq[1] = c2.y;
      } else {
#pragma unroll
        for (int jj = 0; jj < SPT / 4; ++jj) {
          const float4 b4 = *reinterpret_cast<const float4*>(&Bs[tt][state_of<SPT>(lane, 4 * jj)]);
          const float4 c4 = *reinterpret_cast<const float4*>(&Cs[tt][state_of<SPT>(lane, 4 * jj)]);
          bq[4 * jj] = b4.x; bq[4 * jj + 1] = b4.y; bq[4 * jj + 2] = b4.z; bq[4 * jj + 3] = b4.w;
          cq[4 * jj] = c4.x; cq[4 * jj + 1] = c4.y; cq[4 * jj + 2] = c4.z; cq[4 * jj + 3] = c4.w;
        }
      }
#pragma unroll
      for (int j = 0; j < SPT; ++j) {
        s[j] = exp2f(dt * A[j]) * s[j] + dtx * bq[j];
        acc += cq[j] * s[j];
        const float m = fabsf(s[j]);
        amax[j] = fmaxf(amax[j], m);
        chunk_abs[j] += m;
      }
      parts[tt][cl][lane] = acc;
    }
#pragma unroll
    for (int j = 0; j < SPT; ++j) total_abs[j] += chunk_abs[j];
    __syncthreads();
    // Outputs and their statistics, off the recurrence's critical path: all threads, coalesced.
    for (int tt = tid / kChannels; tt < len; tt += blockDim.x / kChannels) {
      if (!out_live) continue;
      const float* pr = parts[tt][oc];
      float share = 0.0f;
#pragma unroll
      for (int l = 0; l < kLanes; ++l) share += pr[l];
      const float g = (share + D_out * xs[tt][oc]) * gates[tt][oc];
      y[(b * a.seqlen + t0 + tt) * a.E + e0 + oc] = from_f<T>(g);
      if (want_y_stats) {
        yacc.add(g);
        if (want_hist) hist_add(shist, g);
      }
    }
  }

  if (want_y_stats) {
    // The 4 threads of an output channel (one per warp) merge through shared memory.
    __shared__ ChannelAcc accs[kChannels * kLanes];
    accs[tid] = yacc;
    __syncthreads();
    if (tid < kChannels && out_live) {
      for (int w = 1; w < kLanes; ++w) {
        const ChannelAcc& o = accs[tid + w * kChannels];
        yacc.absmax = fmaxf(yacc.absmax, o.absmax);
        yacc.mn = fminf(yacc.mn, o.mn);
        yacc.mx = fmaxf(yacc.mx, o.mx);
        yacc.sum += o.sum;
        yacc.sumsq += o.sumsq;
      }
      yacc.flush(a.y_stats, e0 + oc);
    }
  }
  if (live) {
#pragma unroll
    for (int j = 0; j < SPT; ++j) {
      const int n = state_of<SPT>(lane, j);
      if (n < a.N) {
        atomic_max_f(a.state_absmax + e * a.N + n, amax[j]);
        atomicAdd(a.state_sum_abs + e * a.N + n, total_abs[j]);
      }
    }
  }
  if (want_hist) {
    __syncthreads();
    hist_flush(shist, a.y_stats.hist, tid, blockDim.x);
  }
}

template <typename T>
void launch(const ScanM1Args& a, cudaStream_t stream) {
  dim3 grid{unsigned((a.E + kChannels - 1) / kChannels), unsigned(a.batch)}, block{kChannels * kLanes};
  const int64_t spt = (a.N + kLanes - 1) / kLanes;
  // Chunks of 16 tokens keep the per-lane shares and the tiles within 48 KB of shared memory.
  if (spt <= 2) scan_m1_kernel<T, 2, 16><<<grid, block, 0, stream>>>(a);
  else if (spt <= 4) scan_m1_kernel<T, 4, 16><<<grid, block, 0, stream>>>(a);
  else scan_m1_kernel<T, 8, 16><<<grid, block, 0, stream>>>(a);
}

}  // namespace
}  // namespace cuda

void scan_m1_cuda(const ScanM1Args& a, void* stream) {
  if (a.batch == 0 || a.seqlen == 0 || a.E == 0) return;
  if (a.N < 1 || a.N > kMaxScanStatesM1)
    throw std::runtime_error("scan_m1: d_state " + std::to_string(a.N) + " is outside 1.." +
                             std::to_string(kMaxScanStatesM1));
  if (a.batch > 65535) throw std::runtime_error("scan_m1: batch above 65535");
  cuda::upload_hist_edges();
  auto s = static_cast<cudaStream_t>(stream);
  if (a.dtype == DataType::F32) cuda::launch<float>(a, s);
  else cuda::launch<__nv_bfloat16>(a, s);
  cuda::check(cudaGetLastError(), "scan_m1 kernel");
}

}  // namespace ms::kernels
