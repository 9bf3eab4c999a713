// The GPTQ half of `quantize --method [T1,...,]gptq` (shared/CLI-CONTRACT.md "Quantize"): its
// flags (--damp, --block, --act-order; the calibration text comes from the transforms' --calib-file,
// --calib-tokens and --calib-seq-len: --calib-tokens / --calib-seq-len whole windows), the
// calibration windows, and the sequential run over the (possibly transformed) checkpoint
// (core/quant/gptq_model.h), shaped like the RTN writer's result so the command exports it the same way.
//
// Not here: writing files (hf and packed: cmd_quantize.cpp; GGUF cannot hold GPTQ codes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/engine/evaluation.h"
#include "core/quant/gptq_model.h"

namespace ms::cli {

struct GptqArgs {
  double damp = 0.01;
  int64_t block = 128;
  bool act_order = false;
};
// The calibration text, as the transforms' --calib-file, --calib-tokens, --calib-seq-len give it.
struct GptqCalibArgs {
  std::vector<std::string> files;  // empty: the shipped Austen text
  int64_t tokens = 32768;          // windows = tokens / seq_len
  int64_t seq_len = 512;
};
void add_gptq_options(CLI::App* cmd, GptqArgs& g);

struct GptqExport {
  GptqCheckpoint checkpoint;
  nlohmann::json scheme;  // gptq_scheme_json plus the calibration texts (file, SHA-256, tokens)
};

// Tokenizes the calibration texts (args.calib_files, default the shipped Austen text) with the
// model's tokenizer (or `tokenizer`), cuts the windows and runs sequential GPTQ on the CPU in fp32.
GptqExport gptq_export(const Checkpoint& ck, const RtnSpec& rtn, const std::vector<Module>& modules,
                       std::optional<at::ScalarType> dtype, const GptqArgs& g,
                       const GptqCalibArgs& calib, const std::optional<std::filesystem::path>& tokenizer,
                       const ProgressFn& progress);

}  // namespace ms::cli
