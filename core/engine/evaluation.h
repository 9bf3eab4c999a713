// Perplexity and generation on top of MambaModel, with the contract's protocols
// (shared/CLI-CONTRACT.md): perplexity over windows of `ctx` tokens every `stride`, the state reset
// per window, every predicted token of each window counted, the last short window kept;
// generation by recurrent (cached) decoding, greedy at temperature 0, stopping at EOS.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/engine/mamba_model.h"

namespace ms {

// Progress: (done, total) in tokens; return false to cancel (throws Cancelled).
using ProgressFn = std::function<bool(int64_t done, int64_t total)>;

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;       // nats per predicted token
  int64_t tokens = 0;        // predicted tokens counted
  int64_t windows = 0;
};

PerplexityResult perplexity(const MambaModel& model, const std::vector<int32_t>& ids, int64_t ctx,
                            int64_t stride, const ProgressFn& progress = {});

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0;  // 0: greedy (argmax, lowest id on ties)
  uint64_t seed = 0;
  std::optional<int32_t> eos;
};

// Returns the new tokens (EOS included when it stopped there).
std::vector<int32_t> generate(const MambaModel& model, const std::vector<int32_t>& prompt,
                              const GenerateOptions& options, const ProgressFn& progress = {});

}  // namespace ms
