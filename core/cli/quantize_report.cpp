// The measurements of `quantize`'s report. See quantize_report.h.
#include "core/cli/quantize_report.h"

#include <set>

#include <ATen/ATen.h>

#include "core/cli/common.h"
#include "core/cli/scheme_args.h"
#include "core/engine/calibration.h"
#include "core/engine/fake_quant.h"
#include "core/export/packed.h"
#include "core/export/report_statistics.h"
#include "core/quant/metrics.h"
#include "core/quant/scheme.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace ms::cli {
namespace fs = std::filesystem;
using nlohmann::json;

void add_report_options(CLI::App* cmd, ReportArgs& r) {
  cmd->add_option("--report-tokens", r.stats_tokens, "Calibration tokens the report's statistics (outlier "
                                                     "channels, state map) use, at most --calib-tokens, when "
                                                     "no --stats is given")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--eval-file", r.eval_file, "Text for the report's end-to-end metrics (default: the "
                                              "calibration text's tokens after the calibration slice)");
  cmd->add_option("--eval-tokens", r.eval_tokens, "Tokens the end-to-end metrics use (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-ctx", r.eval_ctx, "Window of the end-to-end metrics (state reset per window)")
      ->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{1} << 24));
  cmd->add_flag("--no-eval", r.no_eval, "Skip the report's end-to-end metrics (the report says so)");
}

namespace {

json skipped(const std::string& reason) { return {{"status", "skipped"}, {"reason", reason}}; }

struct Text {
  std::string file, sha256;
  std::vector<int32_t> ids;
};

// The export as the engine sees it, fp32: what was written, read back.
WeightSet exported_weights(const ExportToMeasure& in, const fs::path& dir) {
  WeightSet w;
  if (in.format == "hf") {
    w = WeightSet::from_checkpoint(open_checkpoint(dir), at::kFloat);
  } else if (in.format == "packed") {
    w.config = in.exported->config;
    w.tensors = read_packed_dequantized(dir);
  } else {  // gguf: the rounding export_gguf stored (tests/cli/tst_cli_export: bit-exact)
    w.config = in.exported->config;
    w.tensors = ggml_quantize_checkpoint(*in.exported, *in.gguf_type, in.modules, std::nullopt).tensors;
  }
  for (auto& [key, t] : w.tensors) t = t.to(at::kFloat);
  return w;
}

}  // namespace

void measure_export(const ExportToMeasure& in, const TransformArgs& calib, const ReportArgs& args,
                    const fs::path& dir, const std::function<ProgressFn(const std::string&)>& progress,
                    json& report) {
  if (!in.tokenizer) {
    const std::string why = "no tokenizer: pass --tokenizer tokenizer.json to measure on text";
    report["calibration"] = skipped(why);
    report["evaluation"] = skipped(args.no_eval ? "--no-eval" : why);
    return;
  }
  CommonOptions o;
  o.tokenizer = in.tokenizer->string();
  const Checkpoint source = open_checkpoint(in.source_model);
  const Tokenizer tok = load_tokenizer(source, o);
  const auto model = MambaModel::load(source, EngineOptions{});

  // The calibration text, tokenized once: statistics read its first calib_tokens, the held-out
  // evaluation what follows.
  std::vector<Text> texts;
  std::string no_text;
  const bool held_out_eval = !args.no_eval && !in.runtime_transforms && args.eval_file.empty();
  if (calib.stats.empty() || held_out_eval) {
    std::vector<std::string> files = calib.calib_files;
    if (files.empty()) {
      if (auto def = shipped_calibration_text()) files.push_back(def->string());
      else no_text = "no calibration text (resources/texts/austen.txt not found): pass --calib-file";
    }
    for (const std::string& f : files) {
      const std::string content = read_text_file(f);
      texts.push_back({fs::absolute(f).lexically_normal().string(), sha256_hex(content), encode(tok, content, o)});
    }
  }
  json text_list = json::array();
  for (const Text& t : texts) text_list.push_back({{"file", t.file}, {"sha256", t.sha256}, {"tokens", t.ids.size()}});

  // Statistics of the source model.
  std::optional<CalibStats> stats;
  if (!calib.stats.empty()) {
    stats = CalibStats::load(calib.stats);
    report["calibration"] = {{"status", "file"},
                             {"file", fs::absolute(calib.stats).lexically_normal().string()},
                             {"tokens", stats->tokens}};
  } else if (!texts.empty()) {
    std::vector<CalibText> ct;
    for (const Text& t : texts) ct.push_back({t.file, t.sha256, t.ids});
    CalibOptions co;
    co.seq_len = calib.calib_seq_len;
    co.max_tokens = std::min(calib.calib_tokens, args.stats_tokens);
    stats = calibrate(*model, ct, co, progress("statistics"));
    if (stats->metadata.fields["cancelled"] == "true") throw Cancelled();
    report["calibration"] = {{"status", "collected"}, {"texts", text_list}, {"tokens", stats->tokens},
                             {"seq_len", co.seq_len}, {"model", "source (before any transform)"}};
  } else {
    report["calibration"] = skipped(no_text);
  }
  if (stats) {
    // The torch-free snapshot the app's views read, through a file in the export's temporary
    // directory that goes before the rename.
    const fs::path file = dir / ".report-statistics.safetensors";
    stats->save(file);
    const auto snapshot = read_stats_file(file);
    fs::remove(file);
    report.update(report_statistics_json(*snapshot));
  }

  // End to end, on held-out text.
  if (args.no_eval) {
    report["evaluation"] = skipped("--no-eval");
    return;
  }
  if (in.runtime_transforms) {
    report["evaluation"] = skipped("the export's run-time transforms (smooth-fused's S-SiLU, online Hadamard) "
                                   "need a runtime that applies them; the weights alone are not the model");
    return;
  }
  std::vector<int32_t> ids;
  json text_info;
  if (!args.eval_file.empty()) {
    const std::string content = read_text_file(args.eval_file);
    ids = encode(tok, content, o);
    if (args.eval_tokens > 0 && int64_t(ids.size()) > args.eval_tokens) ids.resize(std::size_t(args.eval_tokens));
    text_info = {{"source", "--eval-file"},
                 {"file", fs::absolute(args.eval_file).lexically_normal().string()},
                 {"sha256", sha256_hex(content)},
                 {"first_token", 0}};
  } else {
    if (texts.empty()) {
      report["evaluation"] = skipped(no_text);
      return;
    }
    std::vector<int32_t> all;
    for (const Text& t : texts) all.insert(all.end(), t.ids.begin(), t.ids.end());
    const int64_t from = calib.calib_tokens;
    if (int64_t(all.size()) < from + 2) {
      report["evaluation"] = skipped("the calibration text has " + std::to_string(all.size()) +
                                     " tokens, none held out beyond the " + std::to_string(from) +
                                     " calibration tokens: pass --eval-file");
      return;
    }
    const int64_t n = args.eval_tokens > 0 ? std::min<int64_t>(args.eval_tokens, int64_t(all.size()) - from)
                                           : int64_t(all.size()) - from;
    ids.assign(all.begin() + from, all.begin() + from + n);
    text_info = {{"source", "held-out calibration text"}, {"texts", text_list}, {"first_token", from}};
  }
  if (ids.size() < 2) {
    report["evaluation"] = skipped("fewer than 2 tokens of evaluation text");
    return;
  }

  const WeightSet quantized_weights = exported_weights(in, dir);
  const auto quantized = MambaModel::load(quantized_weights, EngineOptions{});
  // Activation and state quantization as eval applies them (packed records them for a runtime;
  // hf and gguf hold none).
  const Scheme scheme = Scheme::from_json({{"activations", in.activations}, {"state", in.state}}, "mambascope.json");
  // Static scales as quantize recorded them (of the exported model); else the source's statistics.
  StaticActAbsmax scales{scheme.act_absmax, true};
  if (scheme.act.enabled() && scheme.act.scale == ActScale::Static && scales.absmax.empty()) {
    if (!stats) {
      report["evaluation"] = skipped("static activation scales need statistics, and none were collected");
      return;
    }
    scales = StaticActAbsmax::of(*stats);
  }
  const std::vector<QuantPoint> points = activation_points(model->config());
  PointFakeQuant fq(scheme.act, scheme.state, std::set<QuantPoint>(points.begin(), points.end()), scales);
  QuantEvalOptions eo;
  eo.ctx = args.eval_ctx;
  eo.point_metrics = !in.transformed;
  const QuantEvalResult r = evaluate_quantized(*model, *quantized, &fq, ids, eo, progress("eval"));

  text_info["tokens"] = ids.size();
  report["evaluation"] = {{"status", "measured"}, {"text", text_info},     {"ctx", eo.ctx},
                          {"stride", eo.ctx},     {"device", "cpu"},       {"dtype", "fp32"},
                          {"activations_state", scheme.act.describe() + ", " + scheme.state.describe()}};
  report["end_to_end"] = end_to_end_json(r.end_to_end);
  if (in.transformed) {
    report["evaluation"]["points"] = "left out: the transforms change what each point holds, so the source "
                                     "model's activations are no reference for them";
    return;
  }
  json pts = json::array();
  for (const PointError& p : r.points) pts.push_back(error_json(p.point, p.error));
  report["points"] = pts;
}

}  // namespace ms::cli
