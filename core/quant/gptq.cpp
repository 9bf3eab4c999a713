// GPTQ for one weight. Algorithm and conventions in gptq.h.
#include "core/quant/gptq.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ms {
namespace {

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// RTN params for one column [out, 1] taken from column `group` of fitted [out, groups] params,
// so that rtn_quantize / rtn_dequantize (the contract's grid) round it.
RtnParams column_params(const RtnParams& p, int64_t group) {
  RtnParams c;
  c.spec = p.spec;
  c.spec.granularity = RtnGranularity::Channel;
  c.out_features = p.out_features;
  c.in_features = 1;
  c.scales = p.scales.narrow(1, group, 1);
  if (p.zeros.defined()) c.zeros = p.zeros.narrow(1, group, 1);
  return c;
}

}  // namespace

void GptqSpec::validate() const {
  rtn.validate();
  if (!(damp >= 0) || damp > 1e6)
    throw UsageError("GPTQ damping must be a fraction >= 0 of mean(diag H), got " + std::to_string(damp));
  if (block < 1) throw UsageError("GPTQ block size must be at least 1, got " + std::to_string(block));
  if (static_groups && rtn.granularity != RtnGranularity::Group)
    throw UsageError("GPTQ static groups need a group:G granularity");
}

GptqResult gptq_quantize(const at::Tensor& w_in, const at::Tensor& h_in, const GptqSpec& spec,
                         const std::string& name) {
  spec.validate();
  if (w_in.dim() != 2 || w_in.size(0) < 1 || w_in.size(1) < 1 || !at::isFloatingType(w_in.scalar_type()))
    throw InputError(name, "GPTQ expects a non-empty float weight [out, in], got " + shape_str(w_in));
  const int64_t out = w_in.size(0), in = w_in.size(1);
  if (h_in.dim() != 2 || h_in.size(0) != in || h_in.size(1) != in || !at::isFloatingType(h_in.scalar_type()))
    throw InputError(name, "GPTQ Hessian must be float [" + std::to_string(in) + ", " +
                               std::to_string(in) + "] for weight " + shape_str(w_in) + ", got " +
                               shape_str(h_in));
  const bool grouped = spec.rtn.granularity == RtnGranularity::Group;
  const int64_t G = grouped ? spec.rtn.group_size : in;
  if (grouped && in % G != 0)
    throw InputError(name, "group size " + std::to_string(G) + " does not divide the row length " +
                               std::to_string(in) + " of weight " + shape_str(w_in) +
                               " (choose a G that divides it, or leave the module out with --modules)");

  const at::Tensor w32 = w_in.to(at::kCPU, at::kFloat);
  at::Tensor W = w32.to(at::kDouble).clone();                 // [out, in], updated in place
  at::Tensor H = h_in.to(at::kCPU, at::kDouble).clone();      // [in, in]
  if (!at::isfinite(H).all().item<bool>()) throw InputError(name, "GPTQ Hessian has non-finite values");

  if (!at::isfinite(w32).all().item<bool>())
    throw InputError(name, "has non-finite values; GPTQ needs finite weights");
  // Per-tensor / per-channel: one fit from the whole weight before any feedback.
  std::optional<RtnParams> whole;
  if (!grouped) whole = rtn_fit(w32, spec.rtn, name);

  at::Tensor dead = H.diagonal() == 0;  // [in] bool
  GptqResult r;
  r.dead_columns = dead.sum().item<int64_t>();
  H.diagonal().masked_fill_(dead, 1.0);
  W.masked_fill_(dead.unsqueeze(0), 0.0);

  std::optional<RtnParams> fixed_groups;  // static groups: fitted up front, original order
  if (spec.static_groups) fixed_groups = rtn_fit(W.to(at::kFloat), spec.rtn, name);

  at::Tensor perm = at::arange(in, at::kLong);
  if (spec.act_order)
    perm = std::get<1>(at::sort(H.diagonal(), /*stable=*/true, /*dim=*/0, /*descending=*/true));
  const at::Tensor invperm = at::argsort(perm);
  W = W.index_select(1, perm).contiguous();
  H = H.index_select(0, perm).index_select(1, perm).contiguous();

  H.diagonal().add_(spec.damp * H.diagonal().mean().item<double>());
  // U: the upper Cholesky factor of H⁻¹; row k of it carries column k's error to later columns.
  auto [L, info] = at::linalg_cholesky_ex(H);
  if (info.item<int64_t>() != 0)
    throw InputError(name, "GPTQ Hessian is not positive definite after damping " +
                               std::to_string(spec.damp) + " (raise --damp)");
  auto [U_, info_u] = at::linalg_cholesky_ex(at::cholesky_inverse(L), /*upper=*/true);
  if (info_u.item<int64_t>() != 0)
    throw InputError(name, "GPTQ inverse Hessian is numerically singular after damping " +
                               std::to_string(spec.damp) + " (raise --damp)");
  const at::Tensor U = U_.contiguous();  // [in, in]
  const double* u = U.data_ptr<double>();
  const std::vector<int64_t> order(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + in);

  // Codes and values in processing order; un-permuted at the end.
  at::Tensor Q = at::empty({out, in}, at::kFloat);
  at::Tensor C = at::empty({out, in}, rtn_code_dtype(spec.rtn));
  std::vector<at::Tensor> group_scales, group_zeros;  // non-static groups, in processing order
  std::vector<int64_t> g_idx(static_cast<size_t>(in));
  std::optional<RtnParams> current;  // the group being rounded (non-static)
  double loss = 0;

  for (int64_t i1 = 0; i1 < in; i1 += spec.block) {
    const int64_t i2 = std::min(i1 + spec.block, in), count = i2 - i1;
    at::Tensor W1 = W.narrow(1, i1, count).clone();  // [out, count]: gets in-block feedback now
    at::Tensor Err1 = at::empty({out, count}, at::kDouble);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t k = i1 + i, j = order[size_t(k)];
      RtnParams cp;
      if (!grouped) {
        cp = column_params(*whole, 0);
        g_idx[size_t(j)] = 0;
      } else if (fixed_groups) {
        cp = column_params(*fixed_groups, j / G);
        g_idx[size_t(j)] = j / G;
      } else {
        if (k % G == 0) {
          // Fit from W as it stood at the start of this block (the reference's convention).
          RtnSpec per_row = spec.rtn;
          per_row.granularity = RtnGranularity::Channel;
          current = rtn_fit(W.narrow(1, k, G).to(at::kFloat), per_row, name);
          group_scales.push_back(current->scales);
          if (current->zeros.defined()) group_zeros.push_back(current->zeros);
        }
        cp = column_params(*current, 0);
        g_idx[size_t(j)] = k / G;
      }
      at::Tensor col = W1.narrow(1, i, 1);                       // [out, 1] fp64
      at::Tensor code = rtn_quantize(col.to(at::kFloat), cp);     // [out, 1]
      at::Tensor q = rtn_dequantize(code, cp);                    // [out, 1] fp32
      C.narrow(1, k, 1).copy_(code);
      Q.narrow(1, k, 1).copy_(q);
      const double d = u[k * in + k];
      at::Tensor err = (col - q.to(at::kDouble)) / d;             // [out, 1]
      loss += err.pow(2).sum().item<double>() / 2;
      // Feedback into the block's later columns: W1[:, i:] -= err · U[k, k:i2].
      if (i + 1 < count)
        W1.narrow(1, i + 1, count - i - 1)
            .sub_(err.matmul(U.narrow(0, k, 1).narrow(1, k + 1, count - i - 1)));
      Err1.narrow(1, i, 1).copy_(err);
    }
    // The lazy batch update of every column after the block.
    if (i2 < in) W.narrow(1, i2, in - i2).sub_(Err1.matmul(U.narrow(0, i1, count).narrow(1, i2, in - i2)));
  }

  r.perm = perm;
  r.g_idx = at::tensor(g_idx, at::kLong);
  r.weight = Q.index_select(1, invperm).contiguous();
  r.codes = C.index_select(1, invperm).contiguous();
  if (!grouped) {
    r.scales = whole->scales;
    r.zeros = whole->zeros;
  } else if (fixed_groups) {
    r.scales = fixed_groups->scales;
    r.zeros = fixed_groups->zeros;
  } else {
    r.scales = at::cat(group_scales, 1);
    if (!group_zeros.empty()) r.zeros = at::cat(group_zeros, 1);
  }
  r.loss = loss;
  return r;
}

}  // namespace ms
