// GPTQ for `quantize`. See quantize_gptq.h.
#include "core/cli/quantize_gptq.h"

#include <cstdlib>

#include <ATen/ATen.h>

#include "core/cli/common.h"
#include "core/util/error.h"

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
  std::vector<std::vector<int32_t>> texts;
  json names = json::array();
  const std::vector<CalibText> calib_texts = calibration_texts(ck, calib.files, {}, tokenizer);
  for (const CalibText& t : calib_texts) {
    texts.push_back(t.ids);
    names.push_back({{"file", t.name}, {"sha256", t.sha256}, {"tokens", t.ids.size()}});
  }
  GptqCalibration c;
  c.ids = gptq_calibration_windows(texts, std::max<int64_t>(1, calib.tokens / calib.seq_len),
                                   calib.seq_len, calib_texts.front().name);
  GptqExport out;
  out.checkpoint = gptq_quantize_checkpoint(ck, spec, modules, dtype, c, EngineOptions{}, progress);
  out.scheme = gptq_scheme_json(spec, c, out.checkpoint.gptq);
  out.scheme["calibration"]["texts"] = names;
  return out;
}

}  // namespace ms::cli
