// MambaScope's own stand-in for mamba_ssm's selective-scan backward kernels, which
// tests/bench/build_peers_on_gpu.sh does not compile (the benchmark runs forward passes under
// no_grad; the backward .cu files are most of the build time). selective_scan.cpp still refers to
// one instantiation per (input, weight) type pair, so each is defined here and raises if called.
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>
#include <c10/util/complex.h>
#include <cuda_runtime.h>

#include "selective_scan.h"

template <typename input_t, typename weight_t>
void selective_scan_bwd_cuda(SSMParamsBwd&, cudaStream_t) {
  TORCH_CHECK(false, "selective_scan backward was not built (forward-only benchmark build)");
}

#define MS_STUB(I, W) template void selective_scan_bwd_cuda<I, W>(SSMParamsBwd&, cudaStream_t);
MS_STUB(float, float)
MS_STUB(float, c10::complex<float>)
MS_STUB(at::Half, float)
MS_STUB(at::Half, c10::complex<float>)
MS_STUB(at::BFloat16, float)
MS_STUB(at::BFloat16, c10::complex<float>)
