// MambaScope's own stand-in for causal-conv1d's backward kernels (causal_conv1d_bwd.cu), which
// tests/bench/build_peers_on_gpu.sh does not compile: the benchmark is forward-only. The bindings
// in causal_conv1d.cpp refer to both layouts for every (input, weight) type pair; each raises.
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>
#include <cuda_runtime.h>

#include "causal_conv1d.h"

template <typename input_t, typename weight_t>
void causal_conv1d_bwd_cuda(ConvParamsBwd&, cudaStream_t) {
  TORCH_CHECK(false, "causal_conv1d backward was not built (forward-only benchmark build)");
}
template <typename input_t, typename weight_t>
void causal_conv1d_channellast_bwd_cuda(ConvParamsBwd&, cudaStream_t) {
  TORCH_CHECK(false, "causal_conv1d backward was not built (forward-only benchmark build)");
}

#define MS_STUB(I, W)                                                          \
  template void causal_conv1d_bwd_cuda<I, W>(ConvParamsBwd&, cudaStream_t);    \
  template void causal_conv1d_channellast_bwd_cuda<I, W>(ConvParamsBwd&, cudaStream_t);
#define MS_STUB_W(I) MS_STUB(I, float) MS_STUB(I, at::Half) MS_STUB(I, at::BFloat16)
MS_STUB_W(float)
MS_STUB_W(at::Half)
MS_STUB_W(at::BFloat16)
