// What `quantize` measures for its report (issue 7: "a reader of the report alone can see what was
// done and what it cost"), after the weights are written and before report.json/report.html:
//
//  - calibration statistics of the *source* model (--stats, else collected on the first
//    --report-tokens (at most --calib-tokens) tokens of the calibration text, --calib-file or the
//    shipped Austen text; a calibration pass with every statistic is the slow part on a CPU):
//    outlier channels per point and the data of the report's figures (core/export/report_statistics.h);
//  - end-to-end metrics of the export against the source model (core/quant/metrics.h: perplexity of
//    both, Δ perplexity, KL mean/p50/p90/p99/max, top-1 agreement) and per-point activation and
//    state errors, on held-out text: the --eval-tokens tokens that follow the calibration slice of
//    the same text, or the first --eval-tokens of --eval-file. `--no-eval` skips this (the report
//    says so). The quantized side is read back from what was written (hf: the checkpoint; packed:
//    the reader's dequantized codes; gguf: ggml's rounding, which the GGUF tests find bit-exact),
//    with the scheme's activation and state quantization applied as `eval` applies them, so `eval
//    --scheme mambascope.json --file F --ctx C --max-tokens N` gives the same numbers.
//
// Per-point activation/state errors compare each point with the source model's, so they are
// left out when transforms changed what a point holds (a rotated basis is not an error).
// Everything runs on the CPU in fp32. Anything that cannot be measured (no tokenizer, no text,
// run-time transforms no runtime here applies) is recorded with its reason, never an error.
//
// Not here: the weights' own errors (the writers) or the page (core/export/report_html.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/cli/quantize_transforms.h"
#include "core/engine/evaluation.h"
#include "core/export/gguf_export.h"
#include "core/model/checkpoint.h"
#include "core/model/quant_point.h"

namespace ms::cli {

struct ReportArgs {
  int64_t stats_tokens = 2048; // statistics for the report: the first min(this, --calib-tokens) tokens
  std::string eval_file;       // --eval-file; empty: held-out calibration text
  int64_t eval_tokens = 2048;  // 0: all of --eval-file (held-out: all that follow the calibration slice)
  int64_t eval_ctx = 2048;
  bool no_eval = false;
};
void add_report_options(CLI::App* cmd, ReportArgs& r);

struct ExportToMeasure {
  std::string source_model;                  // the float model, as given on the command line
  const Checkpoint* exported = nullptr;      // what the writers read (transformed when transforms ran)
  std::string format;                        // hf, packed, gguf
  std::optional<GgmlType> gguf_type;
  std::vector<Module> modules;
  std::optional<std::filesystem::path> tokenizer;
  bool runtime_transforms = false;           // packed with S-SiLU / online Hadamard recorded
  bool transformed = false;                  // transforms rewrote the weights (activations change basis)
  nlohmann::json activations, state;         // mambascope.json's sections
};

// Adds "calibration", "outliers", "views", "evaluation" and, when measured, "end_to_end" and
// "points" to `report`. `dir` is the export being written (read back for the quantized side).
// `progress(label)` gives the callback for one phase; a callback returning false cancels
// (Cancelled propagates).
void measure_export(const ExportToMeasure& in, const TransformArgs& calib, const ReportArgs& args,
                    const std::filesystem::path& dir,
                    const std::function<ProgressFn(const std::string& label)>& progress,
                    nlohmann::json& report);

}  // namespace ms::cli
