#include "core/engine/scan_kernel.h"

#include <cstdlib>
#include <cstring>

#include <ATen/ATen.h>

#include "kernels/calib_kernels.h"

namespace ms {

kernels::StateQuantPod state_quant_pod(const StateQuantSpec& spec) {
  kernels::StateQuantPod q;
  q.bits = spec.enabled() ? spec.bits : 16;
  switch (spec.method) {
    case StateMethod::Tensor: q.method = kernels::StateQuantMethod::Tensor; break;
    case StateMethod::Channel: q.method = kernels::StateQuantMethod::Channel; break;
    case StateMethod::State: q.method = kernels::StateQuantMethod::State; break;
    case StateMethod::Dsq: q.method = kernels::StateQuantMethod::Dsq; break;
  }
  switch (spec.variant) {
    case DsqVariant::AbsMax: q.variant = kernels::StateQuantVariant::AbsMax; break;
    case DsqVariant::AbsMaxSqrt: q.variant = kernels::StateQuantVariant::AbsMaxSqrt; break;
    case DsqVariant::AbsMean: q.variant = kernels::StateQuantVariant::AbsMean; break;
    case DsqVariant::AbsMeanSqrt: q.variant = kernels::StateQuantVariant::AbsMeanSqrt; break;
  }
  return q;
}

bool scan_kernel_enabled() {
  static const bool off = [] {
    const char* v = std::getenv("MAMBASCOPE_SCAN_KERNEL");
    return v && std::strcmp(v, "0") == 0;
  }();
  return !off && kernels::cuda_kernels_built();
}

namespace {

bool on_cuda_fp32(std::initializer_list<const at::Tensor*> ts) {
  for (const at::Tensor* t : ts)
    if (!t->defined() || !t->is_cuda() || t->scalar_type() != at::kFloat) return false;
  return true;
}

// The kernels update the state in place and need it contiguous: a non-contiguous state goes the
// ATen way instead of being copied behind the caller's back.
bool usable_state(const at::Tensor& state) { return state.is_contiguous(); }

}  // namespace

at::Tensor scan_kernel_mamba1(const at::Tensor& x_in, const at::Tensor& dt_in, const at::Tensor& A_in,
                              const at::Tensor& Bm_in, const at::Tensor& Cm_in, const at::Tensor& D_in,
                              at::Tensor& state, at::Tensor* states, const StateQuantSpec& spec) {
  if (!scan_kernel_enabled() || !on_cuda_fp32({&x_in, &dt_in, &A_in, &Bm_in, &Cm_in, &D_in, &state}) ||
      !usable_state(state) || x_in.dim() != 3 || A_in.dim() != 2)
    return {};
  const int64_t B = x_in.size(0), T = x_in.size(1), E = x_in.size(2), N = A_in.size(1);
  const kernels::StateQuantPod q = state_quant_pod(spec);
  if (!kernels::scan_quant_cuda_supports(E, N, q, kernels::scan_quant_cluster_limit())) return {};
  // Shapes are those scan_ref checks; a mismatch goes there for its error message.
  if (dt_in.sizes() != x_in.sizes() || A_in.size(0) != E || Bm_in.sizes() != at::IntArrayRef{B, T, N} ||
      Cm_in.sizes() != at::IntArrayRef{B, T, N} || D_in.sizes() != at::IntArrayRef{E} ||
      state.sizes() != at::IntArrayRef{B, E, N})
    return {};
  const at::Tensor x = x_in.contiguous(), dt = dt_in.contiguous(), A = A_in.contiguous(),
                   Bm = Bm_in.contiguous(), Cm = Cm_in.contiguous(), D = D_in.contiguous();
  at::Tensor y = at::empty({B, T, E}, x.options());
  if (states) *states = at::empty({B, T, E, N}, x.options());
  kernels::ScanQuantM1Args a;
  a.batch = B; a.seqlen = T; a.E = E; a.N = N;
  a.x = x.data_ptr<float>(); a.dt = dt.data_ptr<float>(); a.A = A.data_ptr<float>();
  a.Bm = Bm.data_ptr<float>(); a.Cm = Cm.data_ptr<float>(); a.D = D.data_ptr<float>();
  a.state = state.data_ptr<float>(); a.y = y.data_ptr<float>();
  a.states = states ? states->data_ptr<float>() : nullptr;
  a.quant = q;
  kernels::scan_quant_m1_cuda(a, nullptr);  // the legacy default stream, as LibTorch's ops here
  return y;
}

at::Tensor scan_kernel_mamba2(const at::Tensor& x_in, const at::Tensor& dt_in, const at::Tensor& A_in,
                              const at::Tensor& Bm_in, const at::Tensor& Cm_in, const at::Tensor& D_in,
                              at::Tensor& state, at::Tensor* states, const StateQuantSpec& spec) {
  if (!scan_kernel_enabled() || !on_cuda_fp32({&x_in, &dt_in, &A_in, &Bm_in, &Cm_in, &D_in, &state}) ||
      !usable_state(state) || x_in.dim() != 4 || Bm_in.dim() != 4)
    return {};
  const int64_t B = x_in.size(0), T = x_in.size(1), H = x_in.size(2), P = x_in.size(3);
  const int64_t G = Bm_in.size(2), N = Bm_in.size(3);
  const kernels::StateQuantPod q = state_quant_pod(spec);
  if (G < 1 || H % G != 0 || !kernels::scan_quant_cuda_supports(P, N, q, kernels::scan_quant_cluster_limit())) return {};
  if (dt_in.sizes() != at::IntArrayRef{B, T, H} || A_in.sizes() != at::IntArrayRef{H} ||
      Bm_in.sizes() != at::IntArrayRef{B, T, G, N} || Cm_in.sizes() != at::IntArrayRef{B, T, G, N} ||
      D_in.sizes() != at::IntArrayRef{H} || state.sizes() != at::IntArrayRef{B, H, P, N})
    return {};
  const at::Tensor x = x_in.contiguous(), dt = dt_in.contiguous(), A = A_in.contiguous(),
                   Bm = Bm_in.contiguous(), Cm = Cm_in.contiguous(), D = D_in.contiguous();
  at::Tensor y = at::empty({B, T, H, P}, x.options());
  if (states) *states = at::empty({B, T, H, P, N}, x.options());
  kernels::ScanQuantM2Args a;
  a.batch = B; a.seqlen = T; a.H = H; a.P = P; a.N = N; a.G = G;
  a.x = x.data_ptr<float>(); a.dt = dt.data_ptr<float>(); a.A = A.data_ptr<float>();
  a.Bm = Bm.data_ptr<float>(); a.Cm = Cm.data_ptr<float>(); a.D = D.data_ptr<float>();
  a.state = state.data_ptr<float>(); a.y = y.data_ptr<float>();
  a.states = states ? states->data_ptr<float>() : nullptr;
  a.quant = q;
  kernels::scan_quant_m2_cuda(a, nullptr);
  return y;
}

}  // namespace ms
