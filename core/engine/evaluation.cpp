#include "core/engine/evaluation.h"

#include <cmath>
#include <random>

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ms {

PerplexityResult perplexity(const MambaModel& model, const std::vector<int32_t>& ids, int64_t ctx,
                            int64_t stride, const ProgressFn& progress) {
  if (ctx < 2) throw UsageError("--ctx must be at least 2");
  if (stride < 1) throw UsageError("--stride must be at least 1");
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n < 2) throw InputError("", "the text has " + std::to_string(n) +
                                      " token(s); perplexity needs at least 2");
  PerplexityResult r;
  double nll = 0;  // fp64: a long text sums millions of terms
  for (int64_t start = 0; start < n; start += stride) {
    const int64_t len = std::min(ctx, n - start);
    if (len < 2) break;
    at::Tensor w = at::from_blob(const_cast<int32_t*>(ids.data()) + start, {1, len}, at::kInt)
                       .to(at::kLong);
    at::Tensor logits = model.forward(w).squeeze(0);                       // [len, V]
    at::Tensor logp = at::log_softmax(logits.narrow(0, 0, len - 1).to(at::kDouble), -1);
    at::Tensor target = w.squeeze(0).narrow(0, 1, len - 1).to(logp.device());
    nll -= logp.gather(1, target.unsqueeze(1)).sum().item<double>();
    r.tokens += len - 1;
    r.windows += 1;
    if (progress && !progress(std::min(start + len, n), n)) throw Cancelled();
    if (start + ctx >= n) break;
  }
  r.mean_nll = nll / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

std::vector<int32_t> generate(const MambaModel& model, const std::vector<int32_t>& prompt,
                              const GenerateOptions& o, const ProgressFn& progress) {
  if (prompt.empty()) throw UsageError("generate needs a non-empty prompt");
  RecurrentState state = model.initial_state(1);
  at::Tensor ids = at::tensor(std::vector<int64_t>(prompt.begin(), prompt.end())).unsqueeze(0);
  at::Tensor logits = model.forward(ids, &state).select(1, -1).squeeze(0);  // [V]
  std::mt19937_64 rng(o.seed);
  std::vector<int32_t> out;
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    int32_t next;
    if (o.temperature <= 0) {
      next = static_cast<int32_t>(logits.argmax().item<int64_t>());
    } else {
      // Sampling on the CPU in fp64 with our own generator: the same seed gives the same text on
      // every device.
      at::Tensor p = at::softmax(logits.to(at::kCPU, at::kDouble) / o.temperature, -1).contiguous();
      const double* pp = p.data_ptr<double>();
      std::uniform_real_distribution<double> u(0.0, 1.0);
      double x = u(rng), acc = 0;
      next = static_cast<int32_t>(p.numel() - 1);
      for (int64_t i = 0; i < p.numel(); ++i) {
        acc += pp[i];
        if (x < acc) { next = static_cast<int32_t>(i); break; }
      }
    }
    out.push_back(next);
    if (progress && !progress(step + 1, o.max_new_tokens)) throw Cancelled();
    if (o.eos && next == *o.eos) break;
    if (step + 1 == o.max_new_tokens) break;
    logits = model.forward(at::full({1, 1}, next, at::kLong), &state).select(1, -1).squeeze(0);
  }
  return out;
}

}  // namespace ms
