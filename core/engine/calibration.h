// The calibration pipeline: texts -> tokenizer -> sequences -> batched forwards with a
// CalibObserver -> CalibStats. Each file ends a sequence; a file is cut into sequences of
// `seq_len` tokens, the last one shorter; sequences of equal length are batched together, so no
// padding ever enters a statistic. Progress and cancellation are polled between batches; a
// cancelled run returns what it has (stats.metadata "cancelled" = "true").
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "core/engine/calib_stats.h"
#include "core/engine/evaluation.h"
#include "core/engine/mamba_model.h"

namespace ms {

struct CalibText {
  std::string name;     // path or label, recorded in the metadata
  std::string sha256;
  std::vector<int32_t> ids;
};

// auto: the fused CUDA kernels when the model is on a GPU and they can run it, else the reference
// (MambaModel::forward with a CalibObserver, any device); fused: insist (error when impossible).
enum class CalibEngine { Auto, Fused, Reference };

struct CalibOptions {
  int64_t seq_len = 2048;
  int64_t batch = 1;
  int64_t max_tokens = 0;  // 0: all
  bool covariance = false;
  CalibEngine engine = CalibEngine::Auto;
};

CalibStats calibrate(const MambaModel& model, const std::vector<CalibText>& texts,
                     const CalibOptions& options, const ProgressFn& progress = {});

}  // namespace ms
