// `quantize MODEL --method rtn --out DIR --format hf [--wbits B] [--granularity tensor|channel|group:G]
// [--sym|--asym] [--modules LIST] [--dtype fp16|bf16|fp32] [--abits B --hbits B --weights-only]`:
// shared/CLI-CONTRACT.md "Quantize", first increment (issue 5): weight-only RTN exported as a plain
// HF checkpoint of dequantized weights (METHODS.md section 6, "HF dequantized"), with
// mambascope.json (the whole scheme) and report.json (per-weight MSE, SQNR, cosine, max abs error;
// METHODS.md section 4) beside it. The directory appears whole or not at all: it is written as a
// hidden sibling, then renamed.
//
// --format packed (integer codes, core/export/packed.h) and --format gguf (llama.cpp's file,
// core/export/gguf_export.h) come from the same command; every format also writes report.html
// (core/export/report_html.h) with the statistics and end-to-end metrics that
// core/cli/quantize_report.h measures (--eval-file, --eval-tokens, --no-eval). `--format hf
// --gguf-type T` rounds the weights as ggml's T does, so our perplexity and llama.cpp's on the
// GGUF are about the same weights.
//
// Transforms before the rounding: core/cli/quantize_transforms.h. GPTQ (--format hf, and packed
// with GPTQ's own codes and act-order's g_idx): core/cli/quantize_gptq.h.

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/quantize_gptq.h"
#include "core/cli/quantize_report.h"
#include "core/cli/quantize_transforms.h"
#include "core/cli/scheme_model.h"
#include "core/cli/static_scales.h"
#include "core/export/disk_space.h"
#include "core/export/gguf_export.h"
#include "core/export/packed.h"
#include "core/export/report_html.h"
#include "core/io/atomic_dir.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/quant/weight_quant.h"
#include "core/quant/act_quant.h"
#include "core/quant/dsq.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace ms::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<std::string> kTransforms{"smoothquant", "hadamard", "klt", "smooth-fused"};
const std::vector<std::string> kRounding{"rtn", "gptq"};

std::vector<std::string> parse_methods(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string m = list.substr(start, end - start);
    const bool known = std::find(kTransforms.begin(), kTransforms.end(), m) != kTransforms.end() ||
                       std::find(kRounding.begin(), kRounding.end(), m) != kRounding.end();
    if (!known)
      throw UsageError("--method: unknown method '" + m + "' (known: smoothquant, hadamard, klt, "
                       "smooth-fused, rtn, gptq)");
    out.push_back(m);
    start = end + 1;
  }
  for (const std::string& m : out)
    if (!is_known_method(m))
      throw InputError("--method " + list, "method '" + m + "' is not implemented yet");
  // Order rules (core/quant/pipeline.h): transforms first, one weight rounding, last.
  out = parse_method_list(list);
  if (!is_rounding_method(out.back()))
    throw UsageError("--method: end the list with a weight rounding method (rtn or gptq)");
  return out;
}

DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    default: throw InputError("quantize", "weights are stored as fp32, fp16 or bf16");
  }
}
const char* hf_dtype_name(at::ScalarType t) {
  return t == at::kFloat ? "float32" : t == at::kHalf ? "float16" : "bfloat16";
}

// Ctrl+C stops between tensors; the temporary directory is removed and nothing is left behind.
volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// mambascope.json's "calibration": absolute paths (eval runs from anywhere) and each text's SHA-256.
json calibration_json(std::vector<std::string> files, int64_t tokens, int64_t seq_len) {
  if (files.empty())
    if (auto def = shipped_calibration_text()) files.push_back(def->string());
  json texts = json::array();
  for (const std::string& f : files)
    texts.push_back({{"file", fs::absolute(f).lexically_normal().string()},
                     {"sha256", sha256_hex(read_text_file(f))}});
  return {{"texts", texts}, {"tokens", tokens}, {"seq_len", seq_len}};
}

}  // namespace

Runner register_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quantize", "Transform and round a model's weights (--method: smoothquant, hadamard, klt, "
                  "smooth-fused, then rtn or gptq) and export them (--format hf, packed or gguf), with "
                  "mambascope.json, report.json and report.html beside them");
  struct Args {
    std::string model, method, out, format, granularity = "channel", modules, dtype, tokenizer, gguf_type;
    std::string act_scale = "dynamic", act_granularity = "token", state_method = "dsq", dsq_variant = "abs.mean.sqrt";
    int wbits = 8, abits = 16, hbits = 16;
    bool sym = false, asym = false, weights_only = false, json = false;
    TransformArgs transforms;  // --alpha, --stats, --calib-*, --zero-outliers
    GptqArgs gptq;             // --damp, --block, --act-order
    ReportArgs report;         // --eval-file, --eval-tokens, --eval-ctx, --no-eval
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--method", a->method, "Comma-separated methods applied in order: transforms "
                                         "(smoothquant, hadamard, klt, smooth-fused), then rtn or gptq")->required();
  cmd->add_option("--out", a->out, "Directory to create (must not exist)")->required();
  cmd->add_option("--format", a->format, "hf (dequantized weights transformers loads as is), packed "
                                         "(integer codes + scales, README \"Export formats\") or gguf "
                                         "(model.gguf for llama.cpp; needs --gguf-type)")
      ->required()->check(CLI::IsMember({"hf", "packed", "gguf"}));
  cmd->add_option("--wbits", a->wbits, "Weight bits, 2..15 (--format packed: 2..8; 16 is refused: "
                                       "the weights would stay float; --format hf stores fp32 when the "
                                       "model's fp16/bf16 cannot hold the grid)")
      ->capture_default_str()->check(CLI::Range(2, 15));
  cmd->add_option("--abits", a->abits, "Activation bits (16: none; not storable in --format hf)")
      ->capture_default_str()->check(CLI::Range(2, 16));
  cmd->add_option("--hbits", a->hbits, "SSM state bits (16: none; not storable in --format hf)")
      ->capture_default_str()->check(CLI::Range(2, 16));
  cmd->add_option("--act-scale", a->act_scale,
                  "Activation scales: static (each Linear input's absmax, measured on the transformed model "
                  "over the --calib-file text, or taken from --stats when no transform runs; recorded in "
                  "mambascope.json) or dynamic (per token or tensor at run time)")
      ->capture_default_str()->check(CLI::IsMember({"static", "dynamic"}));
  cmd->add_option("--act-granularity", a->act_granularity, "Activation scale per tensor or per token")
      ->capture_default_str()->check(CLI::IsMember({"tensor", "token"}));
  cmd->add_option("--state-method", a->state_method, "State quantizer: dsq, tensor, channel or state")
      ->capture_default_str()->check(CLI::IsMember({"dsq", "tensor", "channel", "state"}));
  cmd->add_option("--dsq-variant", a->dsq_variant, "DSQ's channel scale: abs.max, abs.max.sqrt, abs.mean "
                                                   "or abs.mean.sqrt (DSQ's own)")
      ->capture_default_str()->check(CLI::IsMember({"abs.max", "abs.max.sqrt", "abs.mean", "abs.mean.sqrt"}));
  cmd->add_option("--granularity", a->granularity, "tensor, channel (one scale per output row) or "
                                                   "group:G (per G input columns)")
      ->capture_default_str();
  auto* sym = cmd->add_flag("--sym", a->sym, "Symmetric codes (default)");
  cmd->add_flag("--asym", a->asym, "Asymmetric codes with a zero point")->excludes(sym);
  cmd->add_option("--modules", a->modules, "Linears to quantize (default in_proj,x_proj,dt_proj,"
                                           "out_proj; conv, norms, A, D, embeddings, lm_head stay float)");
  cmd->add_option("--dtype", a->dtype, "Stored dtype (default: each tensor's own)")
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}));
  cmd->add_flag("--weights-only", a->weights_only, "Drop activation/state quantization that "
                                                   "--format hf cannot hold (the report says so)");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json to copy (default: the model's own)");
  cmd->add_option("--gguf-type", a->gguf_type, "f16, q8_0 or q4_0: the type of the quantized Linears in "
                                               "--format gguf; with --format hf, round the weights as "
                                               "that ggml type would (to compare with llama.cpp)")
      ->check(CLI::IsMember({"f16", "q8_0", "q4_0"}));
  cmd->add_flag("--json", a->json, "Write one JSON object (the summary) to stdout");
  // Adds --alpha, --stats, --calib-file, --calib-tokens, --calib-seq-len, --zero-outliers and
  // --zero-random (core/cli/quantize_transforms.h); other steps may read them from a->transforms.
  add_transform_options(cmd, a->transforms);
  add_gptq_options(cmd, a->gptq);
  add_report_options(cmd, a->report);
  return [a] {
    const std::vector<std::string> methods = parse_methods(a->method);
    const bool use_gptq = methods.back() == "gptq";
    if (use_gptq && (a->format == "gguf" || !a->gguf_type.empty()))
      throw UsageError("--method gptq exports --format hf or packed: ggml's blocks fix their own scales, "
                       "which GPTQ's codes do not follow (no --format gguf or --gguf-type)");
    if (a->format == "gguf" && a->gguf_type.empty())
      throw UsageError("--format gguf needs --gguf-type f16, q8_0 or q4_0");
    if (a->format == "packed" && !a->gguf_type.empty())
      throw UsageError("--gguf-type applies to --format gguf (or hf, to emulate it), not to packed");
    if (a->format == "packed") check_packed_bits(a->wbits);  // before any work: 9..15 go to hf
    const std::optional<GgmlType> gguf_type =
        a->gguf_type.empty() ? std::nullopt : std::optional(parse_gguf_type(a->gguf_type));
    std::vector<std::string> dropped;
    for (const auto& [flag, bits, what] : {std::tuple{"--abits", a->abits, "activation"},
                                           std::tuple{"--hbits", a->hbits, "state"}}) {
      if (bits == 16) continue;
      if (a->format == "packed") continue;  // recorded in mambascope.json for a runtime
      if (!a->weights_only)
        throw UsageError("--format " + a->format + " writes plain weights and cannot hold " + what +
                         " quantization (" + flag + " " + std::to_string(bits) +
                         "): pass --weights-only to drop it, or use --format packed");
      dropped.push_back(std::string(flag) + " " + std::to_string(bits) + " (" + what +
                        " quantization, dropped by --weights-only)");
    }
    // Activation and state quantization as recorded (bits 16 when --weights-only dropped them).
    ActQuantSpec act;
    act.bits = a->weights_only ? 16 : a->abits;
    act.scale = parse_act_scale(a->act_scale);
    act.granularity = parse_act_granularity(a->act_granularity);
    act.validate();
    StateQuantSpec state;
    state.bits = a->weights_only ? 16 : a->hbits;
    state.method = parse_state_method(a->state_method);
    state.variant = parse_dsq_variant(a->dsq_variant);
    state.validate();
    RtnSpec spec;
    spec.bits = a->wbits;
    spec.symmetric = !a->asym;
    spec = RtnSpec::with_granularity(spec, a->granularity);
    spec.validate();
    const std::vector<Module> requested = parse_weight_modules(a->modules);
    std::optional<at::ScalarType> dtype;
    if (!a->dtype.empty())
      dtype = a->dtype == "fp32" ? at::kFloat : a->dtype == "fp16" ? at::kHalf : at::kBFloat16;

    const fs::path out = prepare_output_directory(a->out);

    Checkpoint ck = open_checkpoint(a->model);
    // Recorded as quantized: the requested modules this architecture has (Mamba-2 lacks x_proj and
    // dt_proj; the default list names them for Mamba-1).
    std::vector<Module> modules;
    for (Module m : requested)
      if (ck.tensors.find("layers.0." + std::string(module_name(m)) + ".weight")) modules.push_back(m);
    if (modules.empty())
      throw InputError(ck.dir.string(), "none of the chosen modules exists in this " +
                                            std::string(arch_name(ck.config.arch)) + " model");
    // A grid finer than the stored type's significand (bf16: 8 bits, fp16: 11) would be rounded a
    // second time on the way to the file: such weights are stored in fp32 unless --dtype says.
    if (!dtype && a->format == "hf" && !gguf_type) {
      const TensorView* w = ck.tensors.find("layers.0." + std::string(module_name(modules.front())) + ".weight");
      const int significand = !w ? 24 : w->dtype == DType::BF16 ? 8 : w->dtype == DType::F16 ? 11 : 24;
      if (spec.bits > significand) {
        std::fprintf(stderr, "quantize: W%d codes need more than %s's %d significant bits: storing fp32 "
                             "(--dtype chooses)\n", spec.bits, std::string(dtype_name(w->dtype)).c_str(), significand);
        a->dtype = "fp32";
        dtype = at::kFloat;
      }
    }
    std::optional<fs::path> tokenizer;
    if (!a->tokenizer.empty()) {
      if (!fs::is_regular_file(a->tokenizer)) throw InputError(a->tokenizer, "no such file");
      tokenizer = fs::path(a->tokenizer);
    } else {
      tokenizer = ck.tokenizer_file;
    }
    // Transforms (the methods before the rounding) rewrite the weights first; from here on `ck`
    // views the transformed model, which the writers below round and export as a checkpoint.
    TransformedCheckpoint transformed;
    apply_quantize_transforms(ck, methods, a->format, a->weights_only, tokenizer, a->transforms,
                              transformed, dropped);

    // Static activation scales of the model this export is (core/cli/static_scales.h): measured on
    // the calibration text after the transforms, or, with none, from --stats when given.
    json static_scales = nullptr, static_from = nullptr;
    if (act.enabled() && act.scale == ActScale::Static) {
      if (transformed.applied || a->transforms.stats.empty()) {
        const std::vector<CalibText> texts = calibration_texts(ck, a->transforms.calib_files, {}, tokenizer);
        static_scales = measure_static_absmax(WeightSet::from_checkpoint(ck, at::kFloat), transformed.result.runtime,
                                              texts, a->transforms.calib_tokens, a->transforms.calib_seq_len,
                                              progress_reporter("static scales")).absmax;
        static_from = transformed.applied ? "calibration text, on the transformed model with its run-time parts"
                                          : "calibration text";
      } else {
        static_scales = StaticActAbsmax::of(CalibStats::load(a->transforms.stats)).absmax;
        static_from = "statistics file";
      }
    }

    json summary;
    // Installed before the temporary directory exists, restored on every path out.
    struct SigintGuard {
      void (*previous)(int) = std::signal(SIGINT, on_sigint);
      ~SigintGuard() { std::signal(SIGINT, previous); }
    } guard;
    write_directory_atomically(out, [&](const fs::path& tmp) {
      ProgressFn bar = progress_reporter("quantize", "tensors");
      const auto progress = [&](int64_t d, int64_t t) {
        bar(d, t);
        return g_interrupted == 0;
      };
      // The writers live in core/export/; each gives the per-weight errors of what it stored.
      std::vector<WeightError> errors;
      json format_info = json::object();
      json gptq_info;  // GPTQ's parameters, calibration and per-weight loss (core/quant/gptq_model.h)
      if (a->format == "gguf") {
        if (!tokenizer)
          throw InputError(ck.dir.string(), "GGUF needs a tokenizer (llama.cpp tokenizes its own input): "
                                            "pass --tokenizer tokenizer.json");
        check_free_space(tmp, gguf_export_size(ck, *gguf_type, modules, tokenizer));
        GgufExportResult g = export_gguf(ck, tmp / "model.gguf", *gguf_type, modules, tokenizer, progress);
        errors = std::move(g.errors);
        json types = json::array();
        for (const auto& t : g.tensor_types) types.push_back({{"gguf", t.gguf}, {"source", t.source}, {"type", t.type}});
        format_info = {{"file", "model.gguf"}, {"gguf_type", a->gguf_type}, {"tensor_types", types}};
      } else {
        check_free_space(tmp, ck.tensors.total_bytes());
        std::set<at::ScalarType> stored_types;
        if (a->format == "packed") {
          // GPTQ's own codes, scales and (act-order) g_idx, packed as they are: no second rounding.
          std::map<std::string, PackedLinear> gptq_codes;
          if (use_gptq) {
            const GptqCalibArgs calib{a->transforms.calib_files, a->transforms.calib_tokens,
                                      a->transforms.calib_seq_len};
            GptqExport g = gptq_export(ck, spec, modules, dtype, a->gptq, calib, tokenizer, progress);
            for (const GptqWeightReport& r : g.checkpoint.gptq)
              gptq_codes[r.key] = PackedLinear{spec.bits, spec.symmetric, r.codes, r.scales,
                                               spec.symmetric ? at::Tensor() : r.zeros,
                                               a->gptq.act_order ? r.g_idx : at::Tensor()};
            gptq_info = std::move(g.scheme);
          }
          errors = write_packed_checkpoint(ck, spec, modules, dtype, tmp, progress, use_gptq ? &gptq_codes : nullptr);
          format_info = {{"file", "model.safetensors"}};
        } else {
          // The same rounding eval and sweep rerun from mambascope.json (core/cli/scheme_model.h).
          RoundingArgs rounding;
          rounding.method = use_gptq ? "gptq" : "rtn";
          rounding.spec = spec;
          rounding.modules = modules;
          rounding.dtype = dtype;
          rounding.gguf_type = gguf_type;
          rounding.gptq = a->gptq;
          rounding.calibration = GptqCalibArgs{a->transforms.calib_files, a->transforms.calib_tokens,
                                               a->transforms.calib_seq_len};
          rounding.tokenizer = tokenizer;
          RoundedCheckpoint rounded = round_checkpoint(ck, rounding, progress);
          QuantizedCheckpoint q = std::move(rounded.quantized);
          gptq_info = std::move(rounded.gptq);
          // Weights, in HF names.
          std::vector<TensorToWrite> files;
          for (auto& [key, t] : q.tensors) {
            t = t.contiguous();
            stored_types.insert(t.scalar_type());
            files.push_back({file_key(key, Layout::HF), to_dtype(t.scalar_type()),
                             std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                             t.nbytes()});
          }
          write_safetensors(tmp / "model.safetensors", files, {{"format", "pt"}});
          errors = std::move(q.errors);
        }
        ModelConfig config = ck.config;
        config.layout = Layout::HF;
        json cj = json::parse(config.to_hf_json());
        if (stored_types.size() == 1) cj["dtype"] = hf_dtype_name(*stored_types.begin());
        write_file_atomic(tmp / "config.json", cj.dump(2) + "\n");
        if (tokenizer) fs::copy_file(*tokenizer, tmp / "tokenizer.json");
      }

      // The scheme (METHODS.md section 6: methods in order, bits, group size, symmetry,
      // transforms, modules, statistics, version) and the report.
      json mods = json::array();
      for (Module m : modules) mods.push_back(std::string(module_name(m)));
      json scheme{
          {"tool", "mambascope"},
          {"version", MAMBASCOPE_VERSION},
          {"format", a->format},
          {"methods", methods},
          {"transforms", json::array()},
          {"weights",
           {{"method", "rtn"},
            {"bits", spec.bits},
            {"granularity", spec.granularity == RtnGranularity::Group ? "group"
                            : spec.granularity == RtnGranularity::Channel ? "channel" : "tensor"},
            {"group_size", spec.granularity == RtnGranularity::Group ? json(spec.group_size)
                                                                       : json(nullptr)},
            {"symmetric", spec.symmetric},
            {"rounding", "half-to-even"},
            {"modules", mods},
            {"kept_float", {"conv1d", "norms", "A_log", "D", "dt biases", "embedding", "lm_head"}}}},
          {"activations", {{"bits", act.bits},
                           {"scale", act_scale_name(act.scale)},
                           {"granularity", act_granularity_name(act.granularity)}}},
          {"state", {{"bits", state.bits},
                     {"method", state_method_name(state.method)},
                     {"dsq_variant", dsq_variant_name(state.variant)}}},
          // Whether smooth-fused's run-time parts are in the scheme (packed) or were left out.
          {"runtime_transforms", a->format == "packed"},
          {"dropped", dropped},
          {"statistics", nullptr},
          {"dtype", a->dtype.empty() ? "source" : a->dtype},
          {"source",
           {{"path", fs::absolute(ck.dir).lexically_normal().string()},
            {"model_type", std::string(arch_name(ck.config.arch))},
            {"layout", std::string(layout_name(ck.config.layout))}}}};
      if (gguf_type) {
        // ggml's blocks replace the RTN spec: 32 weights a block, one fp16 scale each.
        scheme["weights"]["method"] = "ggml";
        scheme["weights"]["gguf_type"] = a->gguf_type;
        scheme["weights"]["bits"] = *gguf_type == GgmlType::Q4_0 ? 4 : *gguf_type == GgmlType::Q8_0 ? 8 : 16;
        scheme["weights"]["granularity"] = "group";
        scheme["weights"]["group_size"] = 32;
        scheme["weights"]["symmetric"] = true;
        scheme["weights"]["rounding"] = *gguf_type == GgmlType::Q4_0 ? "ggml q4_0: (int)(x/d + 8.5)"
                                                                     : "ggml: half away from zero";
        scheme["weights"]["wider_rows"] = "rows not a multiple of 32 stay F16";
      }
      if (use_gptq) {
        scheme["weights"]["method"] = "gptq";
        scheme["weights"]["gptq"] = gptq_info;
        scheme["weights"]["gptq"].erase("weights");
      }
      if (a->format == "packed")
        scheme["packing"] = {{"bits", spec.bits},
                             {"symmetric", spec.symmetric},
                             {"group_size", spec.granularity == RtnGranularity::Group ? json(spec.group_size)
                                                                                        : json(nullptr)},
                             {"act_order", use_gptq && a->gptq.act_order},
                             {"modules", mods},
                             {"layout", "README \"Export formats\": X.qweight, X.scales, X.zeros, X.g_idx"}};
      const std::vector<WeightError>& q_errors = errors;
      json weights = json::array();
      double min_sqnr = std::numeric_limits<double>::infinity(), sum_sqnr = 0;
      for (const WeightError& e : q_errors) {
        weights.push_back({{"key", e.key},
                           {"hf_key", file_key(e.key, Layout::HF)},
                           {"shape", e.shape},
                           {"mse", e.mse},
                           {"sqnr_db", finite_or_null(e.sqnr_db)},
                           {"cosine", e.cosine},
                           {"max_abs_error", e.max_abs}});
        min_sqnr = std::min(min_sqnr, e.sqnr_db);
        sum_sqnr += e.sqnr_db;
      }
      summary = {{"out", out.string()},
                 {"quantized", q_errors.size()},
                 {"min_sqnr_db", finite_or_null(min_sqnr)},
                 {"mean_sqnr_db", finite_or_null(sum_sqnr / double(q_errors.size()))}};
      json report{{"tool", "mambascope"},
                  {"version", MAMBASCOPE_VERSION},
                  {"scheme", "mambascope.json"},
                  {"metrics", "per weight: MSE, SQNR dB = 10 log10(|w|^2/|w-w_hat|^2) (null: exact), "
                              "cosine, max abs error, w_hat as stored"},
                  {"weights", weights},
                  {"summary", summary},
                  {"dropped", dropped}};
      const std::string main_file = a->format == "gguf" ? "model.gguf" : "model.safetensors";
      report["sizes"] = {{"source_bytes", ck.tensors.total_bytes()},
                         {"export_bytes", fs::file_size(tmp / main_file)},
                         {"file", main_file}};
      if (format_info.contains("tensor_types")) report["tensor_types"] = format_info["tensor_types"];
      if (use_gptq) report["gptq"] = gptq_info["weights"];
      record_transforms(transformed, tmp, scheme);
      if (!static_scales.is_null()) {
        scheme["activations"]["absmax"] = static_scales;
        scheme["activations"]["absmax_from"] = static_from;
      }
      if (scheme["statistics"].is_null() && !a->transforms.stats.empty())
        scheme["statistics"] = {{"file", fs::absolute(a->transforms.stats).lexically_normal().string()}};
      // The text the transforms' statistics and GPTQ's Hessians came from, for eval to rerun them.
      const bool collected = transformed.statistics.is_object() && transformed.statistics.contains("collected");
      const bool scales_measured = !static_from.is_null() && static_from != "statistics file";
      scheme["calibration"] = collected || use_gptq || scales_measured
          ? calibration_json(a->transforms.calib_files, a->transforms.calib_tokens, a->transforms.calib_seq_len)
          : json(nullptr);
      write_file_atomic(tmp / "mambascope.json", scheme.dump(2) + "\n");  // the packed reader reads it
      // Statistics, outliers and end-to-end metrics for the report (core/cli/quantize_report.h).
      const ExportToMeasure measured{a->model, &ck, a->format, gguf_type, modules, tokenizer,
                                     !transformed.result.runtime.empty(), transformed.applied,
                                     scheme["activations"], scheme["state"]};
      measure_export(measured, a->transforms, a->report, tmp, [](const std::string& label) -> ProgressFn {
        ProgressFn bar = progress_reporter(label);
        return [bar](int64_t d, int64_t t) { return bar(d, t) && g_interrupted == 0; };
      }, report);
      write_file_atomic(tmp / "report.json", report.dump(2) + "\n");
      write_file_atomic(tmp / "report.html", export_report_html(scheme, report));
    });
    if (a->json)
      std::printf("%s\n", summary.dump().c_str());
    else
      std::fprintf(stderr, "wrote %s (%s): %s on %zu weights, min SQNR %s dB\n", out.string().c_str(),
                   a->format.c_str(),
                   gguf_type ? ("ggml " + a->gguf_type).c_str()
                             : (a->method + " W" + std::to_string(spec.bits) + " " + spec.granularity_str() +
                                (spec.symmetric ? " sym" : " asym")).c_str(),
                   (size_t)summary["quantized"].get<size_t>(),
                   summary["min_sqnr_db"].is_null() ? "inf"
                                                    : std::to_string(summary["min_sqnr_db"].get<double>()).c_str());
    return 0;
  };
}

}  // namespace ms::cli
