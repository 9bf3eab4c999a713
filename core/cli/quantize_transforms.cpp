// Transforms for `quantize`. See quantize_transforms.h.
#include "core/cli/quantize_transforms.h"

#include <cstdlib>
#include <map>

#include <ATen/ATen.h>

#include "core/cli/common.h"
#include "core/engine/calibration.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"

namespace ms::cli {
namespace fs = std::filesystem;
using nlohmann::json;

void add_transform_options(CLI::App* cmd, TransformArgs& t) {
  cmd->add_option("--alpha", t.alpha, "SmoothQuant / smooth-fused migration strength α in [0, 1]")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--stats", t.stats, "Calibration statistics of this model (mambascope-cli calibrate; "
                                      "klt needs --cov); collected on --calib-file when absent");
  cmd->add_option("--calib-file", t.calib_files, "Text(s) to collect statistics on when a method needs "
                                                 "them (default: the shipped resources/texts/austen.txt)");
  cmd->add_option("--calib-tokens", t.calib_tokens, "Tokens of calibration text to use")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--calib-seq-len", t.calib_seq_len, "Tokens per calibration sequence")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_flag("--zero-outliers", t.zero_outliers, "Zero the 6-sigma outlier channels at every Linear "
                                                    "input first (Mamba-PTQ's importance experiment)");
  cmd->add_option("--zero-random", t.zero_random_seed, "The experiment's control: zero as many channels "
                                                       "per point, drawn among the non-outliers with this seed")
      ->check(CLI::NonNegativeNumber);
}

void apply_quantize_transforms(Checkpoint& ck, const std::vector<std::string>& methods,
                               const std::string& format, bool weights_only,
                               const std::optional<fs::path>& tokenizer, const TransformArgs& args,
                               TransformedCheckpoint& out, std::vector<std::string>& dropped) {
  std::vector<std::string> transforms = methods;
  if (!transforms.empty() && is_rounding_method(transforms.back())) transforms.pop_back();
  if (args.zero_outliers && args.zero_random_seed >= 0)
    throw UsageError("--zero-outliers and --zero-random exclude each other (the experiment and its control)");
  if (transforms.empty() && !args.zero_outliers && args.zero_random_seed < 0) return;

  const bool plain = format != "packed";  // hf and gguf hold weights only
  if (plain && methods_have_runtime_parts(transforms, ck.config) && !weights_only)
    throw UsageError("--format " + format + " writes plain weights and cannot hold smooth-fused's run-time "
                     "parts (S-SiLU gate, online Hadamard): pass --weights-only to drop them, or use "
                     "--format packed");
  PipelineOptions po;
  po.alpha = args.alpha;
  po.runtime_transforms = !plain;
  po.zero_outliers = args.zero_outliers;
  if (args.zero_random_seed >= 0) po.zero_random_seed = uint64_t(args.zero_random_seed);

  // Statistics: the given file for the untouched model, fresh collections on the transformed one.
  CalibStats given;
  PipelineContext ctx;
  json stats_info = nullptr;
  if (!args.stats.empty()) {
    given = CalibStats::load(args.stats);
    check_statistics(ck.config, given, args.stats);
    ctx.stats = &given;
    stats_info = {{"file", fs::absolute(args.stats).lexically_normal().string()}};
  }
  std::vector<CalibText> texts;  // tokenized on first use
  json collected = json::array();
  ctx.calibrate = [&](const WeightSet& now, bool covariance) {
    if (texts.empty()) texts = calibration_texts(ck, args.calib_files, {}, tokenizer);
    CalibOptions co;
    co.seq_len = args.calib_seq_len;
    co.max_tokens = args.calib_tokens;
    co.covariance = covariance;
    auto model = MambaModel::load(now, EngineOptions{});
    CalibStats s = calibrate(*model, texts, co, progress_reporter("calibrate"));
    json names = json::array();
    for (const CalibText& t : texts) names.push_back({{"file", t.name}, {"sha256", t.sha256}});
    collected.push_back({{"texts", names}, {"tokens", s.tokens}, {"seq_len", co.seq_len},
                         {"covariance", covariance}});
    return s;
  };
  ProgressFn bar = progress_reporter("transform", "methods");
  ctx.progress = [&](int64_t d, int64_t t) { return bar(d, t); };

  // Transforms run in fp32 and go back to each tensor's stored dtype, which the writers keep.
  std::map<std::string, at::ScalarType> stored;
  for (const auto& [key, view] : ck.tensors.tensors())
    stored[key] = view.dtype == DType::F16 ? at::kHalf : view.dtype == DType::BF16 ? at::kBFloat16 : at::kFloat;
  out.weights = WeightSet::from_checkpoint(ck, at::kFloat);
  out.result = apply_methods(out.weights, transforms, po, ctx);
  const at::ScalarType head_type = stored.count("lm_head.weight") ? stored["lm_head.weight"] : stored["embedding.weight"];
  for (auto& [key, t] : out.weights.tensors)
    t = t.to(stored.count(key) ? stored[key] : head_type);
  for (const std::string& d : out.result.dropped) dropped.push_back(d + " (dropped by --weights-only)");
  if (!collected.empty()) {
    if (stats_info.is_null()) stats_info = json::object();
    stats_info["collected"] = collected;
  }
  out.statistics = stats_info;
  out.applied = true;
  ck = checkpoint_view(out.weights, ck);
}

void record_transforms(const TransformedCheckpoint& t, const fs::path& dir, json& scheme) {
  json steps = json::array();
  for (const json& s : t.result.steps)
    if (!is_rounding_method(s.value("method", ""))) steps.push_back(s);
  scheme["transforms"] = steps;
  scheme["statistics"] = t.statistics;
  if (t.result.runtime.empty()) return;
  // Run-time parameters for a runtime that implements them: S-SiLU scales per layer.
  json rt = json::array();
  std::vector<TensorToWrite> files;
  std::vector<at::Tensor> keep;
  for (const RuntimeTransform& r : t.result.runtime) {
    json e{{"kind", r.kind}, {"point", r.point}};
    if (r.param.defined()) {
      const std::string name = r.point + "." + r.kind + "_scale";
      keep.push_back(r.param.to(at::kFloat).contiguous());
      files.push_back({name, DType::F32, {keep.back().numel()}, keep.back().data_ptr(), keep.back().nbytes()});
      e["tensor"] = name;
      e["file"] = "runtime.safetensors";
    }
    rt.push_back(e);
  }
  if (!files.empty()) write_safetensors(dir / "runtime.safetensors", files, {{"format", "mambascope-runtime"}});
  scheme["runtime"] = rt;
}

}  // namespace ms::cli
