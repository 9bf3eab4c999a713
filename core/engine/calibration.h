// The calibration pipeline: texts -> tokenizer -> sequences -> batched forwards with a
// CalibObserver -> CalibStats. Each file ends a sequence; a file is cut into sequences of
// `seq_len` tokens, the last one shorter; sequences of equal length are batched together, so no
// padding ever enters a statistic. Progress and cancellation are polled between batches; a
// cancelled run returns what it has (stats.metadata "cancelled" = "true").
//
// Several devices (calibrate_on): one worker per device, each in its own host thread with its own
// model copy (or, when layers stream, the one host model), batch k going to device k mod n (a
// fixed deal, so a run is reproducible); at the end the GPUs' accumulators are reduced through
// NCCL into the first device (nccl_merge.h) and copied to the host once, or merged on the host
// with CalibStats::merge (StatsMerge::Host, and always for the reference engine).
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
// How several GPUs' statistics combine: reduced on the GPUs through NCCL, or each copied to the
// host and merged there (CalibStats::merge; the definition NCCL's result is checked against).
enum class StatsMerge { Nccl, Host };

struct CalibOptions {
  int64_t seq_len = 2048;
  int64_t batch = 1;
  int64_t max_tokens = 0;  // 0: all
  bool covariance = false;
  CalibEngine engine = CalibEngine::Auto;
  // --max-gpu-mem chose streaming (gpu_memory_plan.h): the models are on the host and each
  // layer's weights are copied to the device just before it runs. Fused engine only.
  bool stream_layers = false;
  StatsMerge merge = StatsMerge::Nccl;
  // A transformed model's run-time parts (smooth-fused's online Hadamard and S-SiLU, fake_quant.h)
  // applied in every forward, so the statistics are of the values a runtime quantizes. Reference
  // engine only (the fused kernels know no such hook); null: the plain forward.
  const FakeQuant* fake_quant = nullptr;
};

// Where one worker runs: `model` on `device`, or on the host when layers stream to `device`.
struct CalibDevice {
  const MambaModel* model = nullptr;
  c10::Device device = c10::Device(c10::kCPU);
};

CalibStats calibrate(const MambaModel& model, const std::vector<CalibText>& texts,
                     const CalibOptions& options, const ProgressFn& progress = {});
CalibStats calibrate_on(const std::vector<CalibDevice>& devices, const std::vector<CalibText>& texts,
                        const CalibOptions& options, const ProgressFn& progress = {});

// Which of `batches` batches device `worker` of `workers` runs (round-robin; for the tests).
inline bool runs_batch(int64_t batch, int64_t worker, int64_t workers) { return batch % workers == worker; }

}  // namespace ms
