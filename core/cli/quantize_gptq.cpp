// GPTQ for `quantize`. See quantize_gptq.h.
#include "core/cli/quantize_gptq.h"

#include <cstdlib>

#include <ATen/ATen.h>

#include "core/cli/common.h"
#include "core/util/error.h"
#include "core/util/sha256.h"

namespace ms::cli {
namespace fs = std::filesystem;
using nlohmann::json;

void add_gptq_options(CLI::App* cmd, GptqArgs& g) {
  cmd->add_option("--damp", g.damp, "GPTQ: damping, a fraction of mean(diag H) added to H's diagonal")
      ->capture_default_str()->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--block", g.block, "GPTQ: columns per lazy batch update")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_flag("--act-order", g.act_order, "GPTQ: round columns by decreasing Hessian diagonal");
}

GptqExport gptq_export(const Checkpoint& ck, const RtnSpec& rtn, const std::vector<Module>& modules,
                       std::optional<at::ScalarType> dtype, const GptqArgs& g,
                       const GptqCalibArgs& calib, const std::optional<fs::path>& tokenizer,
                       const ProgressFn& progress) {
  GptqSpec spec;
  spec.rtn = rtn;
  spec.damp = g.damp;
  spec.block = g.block;
  spec.act_order = g.act_order;
  spec.validate();
  std::vector<std::string> files = calib.files;
  if (files.empty()) {
    auto def = shipped_calibration_text();
    if (!def)
      throw UsageError("gptq needs calibration text: pass --calib-file (the default text "
                       "resources/texts/austen.txt was not found)");
    files.push_back(def->string());
  }
  CommonOptions o;
  if (tokenizer) o.tokenizer = tokenizer->string();
  Tokenizer tok = load_tokenizer(ck, o);
  std::vector<std::vector<int32_t>> texts;
  json names = json::array();
  for (const std::string& f : files) {
    const std::string content = read_text_file(f);
    texts.push_back(encode(tok, content, o));
    names.push_back({{"file", f}, {"sha256", sha256_hex(content)}, {"tokens", texts.back().size()}});
  }
  GptqCalibration c;
  c.ids = gptq_calibration_windows(texts, std::max<int64_t>(1, calib.tokens / calib.seq_len),
                                   calib.seq_len, files.front());
  GptqExport out;
  out.checkpoint = gptq_quantize_checkpoint(ck, spec, modules, dtype, c, EngineOptions{}, progress);
  out.scheme = gptq_scheme_json(spec, c, out.checkpoint.gptq);
  out.scheme["calibration"]["texts"] = names;
  return out;
}

}  // namespace ms::cli
