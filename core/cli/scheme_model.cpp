// A scheme's model by quantize's own code. See scheme_model.h.
#include "core/cli/scheme_model.h"

#include <ATen/ATen.h>

#include "core/cli/common.h"
#include "core/export/gguf_export.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace ms::cli {
namespace fs = std::filesystem;

RoundedCheckpoint round_checkpoint(const Checkpoint& ck, const RoundingArgs& a, const ProgressFn& progress) {
  RoundedCheckpoint r;
  if (a.gguf_type) {
    r.quantized = ggml_quantize_checkpoint(ck, *a.gguf_type, a.modules, a.dtype, progress);
  } else if (a.method == "gptq") {
    GptqExport g = gptq_export(ck, a.spec, a.modules, a.dtype, a.gptq, a.calibration, a.tokenizer, progress);
    r.quantized = std::move(g.checkpoint.quantized);
    r.gptq = std::move(g.scheme);
  } else if (a.method == "rtn") {
    r.quantized = rtn_quantize_checkpoint(ck, a.spec, a.modules, a.dtype, progress);
  } else {
    throw UsageError("weight rounding '" + a.method + "' is not known (rtn, gptq)");
  }
  return r;
}

TransformArgs transform_args_of(const Scheme& s) {
  TransformArgs t;
  t.alpha = s.alpha;
  t.stats = s.statistics;
  t.calib_tokens = s.calibration.tokens;
  t.calib_seq_len = s.calibration.seq_len;
  t.zero_outliers = s.zero_outliers;
  t.zero_random_seed = s.zero_random_seed ? int64_t(*s.zero_random_seed) : -1;
  // The statistics and GPTQ's Hessians come from this text: a different one gives other weights.
  for (size_t i = 0; i < s.calibration.files.size(); ++i) {
    const std::string& f = s.calibration.files[i];
    if (!fs::is_regular_file(f))
      throw InputError(f, "the scheme's calibration text is missing (the weights depend on it)");
    const std::string want = i < s.calibration.sha256.size() ? s.calibration.sha256[i] : "";
    if (!want.empty() && sha256_hex(read_text_file(f)) != want)
      throw InputError(f, "is not the text the scheme was calibrated on (SHA-256 differs from " + want + ")");
    t.calib_files.push_back(f);
  }
  return t;
}

RoundingArgs rounding_args_of(const Scheme& s, const Checkpoint& ck, const std::optional<fs::path>& tokenizer) {
  if (!s.weights) throw UsageError("rounding_args_of: the scheme keeps weights float");
  RoundingArgs r;
  r.method = s.weight_method;
  r.spec = *s.weights;
  if (s.weight_method == "ggml" || !s.gguf_type.empty()) {
    if (s.gguf_type.empty()) throw InputError("scheme", "weights.method 'ggml' needs weights.gguf_type");
    r.gguf_type = parse_gguf_type(s.gguf_type);
  } else if (s.weight_method != "rtn" && s.weight_method != "gptq") {
    throw InputError("scheme", "weights.method '" + s.weight_method + "' is not known (rtn, gptq, ggml)");
  }
  // As quantize records them: the requested modules this architecture has.
  const std::vector<Module>& requested = s.weight_modules.empty() ? default_weight_modules() : s.weight_modules;
  for (Module m : requested)
    if (ck.tensors.find("layers.0." + std::string(module_name(m)) + ".weight")) r.modules.push_back(m);
  if (r.modules.empty())
    throw InputError(ck.dir.string(), "none of the scheme's modules exists in this " +
                                          std::string(arch_name(ck.config.arch)) + " model");
  if (!s.dtype.empty())
    r.dtype = s.dtype == "fp32" ? at::kFloat : s.dtype == "fp16" ? at::kHalf : at::kBFloat16;
  r.gptq = GptqArgs{s.gptq.damp, s.gptq.block, s.gptq.act_order};
  r.calibration = GptqCalibArgs{s.calibration.files, s.calibration.tokens, s.calibration.seq_len};
  r.tokenizer = tokenizer;
  return r;
}

std::unique_ptr<SchemeModel> scheme_model(const Checkpoint& source, const Scheme& scheme,
                                          const std::optional<fs::path>& tokenizer_flag) {
  std::vector<std::string> methods;
  if (!scheme.methods.empty()) {
    std::string list;
    for (const std::string& m : scheme.methods) list += (list.empty() ? "" : ",") + m;
    try {
      methods = parse_method_list(list);  // known names, no repeats, the rounding last
    } catch (const UsageError& e) {
      throw InputError("scheme", std::string("methods: ") + e.what());
    }
  }
  auto m = std::make_unique<SchemeModel>();
  m->checkpoint = source;
  const std::optional<fs::path> tokenizer = tokenizer_flag ? tokenizer_flag : source.tokenizer_file;
  const TransformArgs targs = transform_args_of(scheme);
  // Kept run-time parts are what --format packed records; dropped ones what --weights-only left.
  std::vector<std::string> dropped;
  apply_quantize_transforms(m->checkpoint, methods, scheme.runtime_transforms ? "packed" : "hf",
                            !scheme.runtime_transforms, tokenizer, targs, m->transformed, dropped);
  // The float side, copied before the rounding reads the checkpoint: each tensor is read once.
  if (m->transformed.applied) {
    m->base.config = m->transformed.weights.config;
    for (const auto& [key, t] : m->transformed.weights.tensors)
      m->base.tensors.emplace_back(key, t.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true));
  } else {
    m->base = WeightSet::from_checkpoint(source, at::kFloat);
  }
  if (scheme.weights)
    m->rounded = round_checkpoint(m->checkpoint, rounding_args_of(scheme, m->checkpoint, tokenizer),
                                  progress_reporter("round", "tensors"));
  return m;
}

}  // namespace ms::cli
