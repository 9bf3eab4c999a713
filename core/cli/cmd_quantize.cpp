// `quantize MODEL --method rtn --out DIR --format hf [--wbits B] [--granularity tensor|channel|group:G]
// [--sym|--asym] [--modules LIST] [--dtype fp16|bf16|fp32] [--abits B --hbits B --weights-only]`:
// shared/CLI-CONTRACT.md "Quantize", first increment (issue 5): weight-only RTN exported as a plain
// HF checkpoint of dequantized weights (METHODS.md section 6, "HF dequantized"), with
// mambascope.json (the whole scheme) and report.json (per-weight MSE, SQNR, cosine, max abs error;
// METHODS.md section 4) beside it. The directory appears whole or not at all: it is written as a
// hidden sibling, then renamed.
//
// Transforms before the rounding: core/cli/quantize_transforms.h. Not yet: GPTQ, --format
// packed|gguf (refused with a message saying so).

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <set>
#include <tuple>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/quantize_transforms.h"
#include "core/io/atomic_dir.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/quant/weight_quant.h"
#include "core/util/error.h"

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
    throw UsageError("--method: end the list with a weight rounding method (rtn)");
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

}  // namespace

Runner register_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quantize", "Quantize a model's weights and export them (this version: RTN, --format hf: a "
                  "plain HF checkpoint of dequantized weights, plus mambascope.json and report.json)");
  struct Args {
    std::string model, method, out, format, granularity = "channel", modules, dtype, tokenizer;
    int wbits = 8, abits = 16, hbits = 16;
    bool sym = false, asym = false, weights_only = false, json = false;
    TransformArgs transforms;  // --alpha, --stats, --calib-*, --zero-outliers
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--method", a->method, "Comma-separated methods applied in order: transforms "
                                         "(smoothquant, hadamard, klt, smooth-fused), then rtn")->required();
  cmd->add_option("--out", a->out, "Directory to create (must not exist)")->required();
  cmd->add_option("--format", a->format, "hf (dequantized weights transformers loads as is); packed "
                                         "and gguf come with the export work")
      ->required()->check(CLI::IsMember({"hf", "packed", "gguf"}));
  cmd->add_option("--wbits", a->wbits, "Weight bits, 2..8")->capture_default_str()
      ->check(CLI::Range(2, 8));
  cmd->add_option("--abits", a->abits, "Activation bits (16: none; not storable in --format hf)")
      ->capture_default_str()->check(CLI::Range(2, 16));
  cmd->add_option("--hbits", a->hbits, "SSM state bits (16: none; not storable in --format hf)")
      ->capture_default_str()->check(CLI::Range(2, 16));
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
  cmd->add_flag("--json", a->json, "Write one JSON object (the summary) to stdout");
  // Adds --alpha, --stats, --calib-file, --calib-tokens, --calib-seq-len, --zero-outliers and
  // --zero-random (core/cli/quantize_transforms.h); other steps may read them from a->transforms.
  add_transform_options(cmd, a->transforms);
  return [a] {
    const std::vector<std::string> methods = parse_methods(a->method);
    if (a->format != "hf")
      throw InputError("--format " + a->format, "comes with the export work; this version writes "
                                                "--format hf only");
    std::vector<std::string> dropped;
    for (const auto& [flag, bits, what] : {std::tuple{"--abits", a->abits, "activation"},
                                           std::tuple{"--hbits", a->hbits, "state"}}) {
      if (bits == 16) continue;
      if (!a->weights_only)
        throw UsageError(std::string("--format hf writes plain weights and cannot hold ") + what +
                         " quantization (" + flag + " " + std::to_string(bits) +
                         "): pass --weights-only to drop it, or use --format packed");
      dropped.push_back(std::string(flag) + " " + std::to_string(bits) + " (" + what +
                        " quantization, dropped by --weights-only)");
    }
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

    json summary;
    // Installed before the temporary directory exists, restored on every path out.
    struct SigintGuard {
      void (*previous)(int) = std::signal(SIGINT, on_sigint);
      ~SigintGuard() { std::signal(SIGINT, previous); }
    } guard;
    write_directory_atomically(out, [&](const fs::path& tmp) {
      ProgressFn bar = progress_reporter("quantize");
      QuantizedCheckpoint q = rtn_quantize_checkpoint(ck, spec, modules, dtype, [&](int64_t d, int64_t t) {
        bar(d, t);
        return g_interrupted == 0;
      });
      // Weights, in HF names.
      std::vector<TensorToWrite> files;
      std::set<at::ScalarType> stored_types;
      for (auto& [key, t] : q.tensors) {
        t = t.contiguous();
        stored_types.insert(t.scalar_type());
        files.push_back({file_key(key, Layout::HF), to_dtype(t.scalar_type()),
                         std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                         t.nbytes()});
      }
      write_safetensors(tmp / "model.safetensors", files, {{"format", "pt"}});
      ModelConfig config = ck.config;
      config.layout = Layout::HF;
      json cj = json::parse(config.to_hf_json());
      if (stored_types.size() == 1) cj["dtype"] = hf_dtype_name(*stored_types.begin());
      write_file_atomic(tmp / "config.json", cj.dump(2) + "\n");
      if (tokenizer) fs::copy_file(*tokenizer, tmp / "tokenizer.json");

      // The scheme (METHODS.md section 6: methods in order, bits, group size, symmetry,
      // transforms, modules, statistics, version) and the report.
      json mods = json::array();
      for (Module m : modules) mods.push_back(std::string(module_name(m)));
      json scheme{
          {"tool", "mambascope"},
          {"version", MAMBASCOPE_VERSION},
          {"format", "hf"},
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
          {"activations", {{"bits", a->weights_only ? 16 : a->abits}}},
          {"state", {{"bits", a->weights_only ? 16 : a->hbits}}},
          {"dropped", dropped},
          {"statistics", nullptr},
          {"dtype", a->dtype.empty() ? "source" : a->dtype},
          {"source",
           {{"path", fs::absolute(ck.dir).lexically_normal().string()},
            {"model_type", std::string(arch_name(ck.config.arch))},
            {"layout", std::string(layout_name(ck.config.layout))}}}};
      json weights = json::array();
      double min_sqnr = std::numeric_limits<double>::infinity(), sum_sqnr = 0;
      for (const WeightError& e : q.errors) {
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
                 {"quantized", q.errors.size()},
                 {"min_sqnr_db", finite_or_null(min_sqnr)},
                 {"mean_sqnr_db", finite_or_null(sum_sqnr / double(q.errors.size()))}};
      json report{{"scheme", "mambascope.json"},
                  {"metrics", "per weight: MSE, SQNR dB = 10 log10(|w|^2/|w-w_hat|^2) (null: exact), "
                              "cosine, max abs error, w_hat as stored"},
                  {"weights", weights},
                  {"summary", summary},
                  {"dropped", dropped}};
      record_transforms(transformed, tmp, scheme);
      write_file_atomic(tmp / "mambascope.json", scheme.dump(2) + "\n");
      write_file_atomic(tmp / "report.json", report.dump(2) + "\n");
    });
    if (a->json)
      std::printf("%s\n", summary.dump().c_str());
    else
      std::fprintf(stderr, "wrote %s: %s W%d %s %s on %zu weights, min SQNR %s dB\n",
                   out.string().c_str(), a->method.c_str(), spec.bits,
                   spec.granularity_str().c_str(), spec.symmetric ? "sym" : "asym",
                   (size_t)summary["quantized"].get<size_t>(),
                   summary["min_sqnr_db"].is_null() ? "inf"
                                                    : std::to_string(summary["min_sqnr_db"].get<double>()).c_str());
    return 0;
  };
}

}  // namespace ms::cli
