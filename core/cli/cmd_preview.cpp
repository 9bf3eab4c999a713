// `preview MODEL --point P --method M [--file F] [--max-tokens N] [--bits B] [--alpha A]
// [--baseline tensor|channel|state] [--json]`: what a method does to one point's values, before
// and after (core/quant/method_preview.h). The app's distributions view draws the --json output.
#include <cmath>
#include <cstdio>

#include <ATen/ATen.h>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/quant/method_preview.h"
#include "core/util/error.h"

namespace ms::cli {
namespace {

std::string db(double v) {
  char b[32];
  std::snprintf(b, sizeof b, std::isfinite(v) ? "%.2f dB" : "inf dB", v);
  return b;
}

void print_side(const char* label, const DistributionSide& s) {
  std::printf("%-7s absmax %.6g   channel absmax CV %.4f   channel variance CV %.4f   %s: MSE %.6g  SQNR %s\n", label,
              s.absmax, s.absmax_cv, s.var_cv, s.error.quantizer.c_str(), s.error.mse, db(s.error.sqnr_db).c_str());
}

}  // namespace

Runner register_preview(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "preview", "Before/after of one method at one quant point: per-channel absmax and variance, "
                 "the |x| histogram, CVs and the error at --bits");
  // The example goes in the footer: the top-level --help lists each command on one line, which
  // packaging/make-man.sh (and a reader) takes the command names from.
  cmd->footer("\nExample:\n  mambascope-cli preview resources/models/demo-mamba --point layers.5.out_proj.input "
              "--method hadamard --file resources/texts/austen.txt --max-tokens 2048 --bits 8\n");
  struct Args {
    std::string model, point, method, file, baseline = "tensor", variant = "abs.mean.sqrt";
    int64_t max_tokens = 2048;
    int bits = 8;
    double alpha = 0.5;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--point", a->point, "Quant point: layers.{i}.{module}.input or layers.{i}.ssm.state")->required();
  cmd->add_option("--method", a->method, "hadamard | klt | smoothquant (activation points), dsq (ssm.state)")->required();
  cmd->add_option("--file", a->file, "UTF-8 calibration text (default: the shipped Austen text)");
  cmd->add_option("--max-tokens", a->max_tokens, "Tokens from the start of the text")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--bits", a->bits, "Bit width of the quantizer whose error is shown (2..15)")->capture_default_str();
  cmd->add_option("--alpha", a->alpha, "SmoothQuant's migration strength")->capture_default_str();
  cmd->add_option("--baseline", a->baseline, "dsq: the state quantizer DSQ is compared with (tensor|channel|state)")
      ->capture_default_str();
  cmd->add_option("--dsq-variant", a->variant, "dsq: abs.max|abs.max.sqrt|abs.mean|abs.mean.sqrt")->capture_default_str();
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a] {
    const auto point = QuantPoint::parse(a->point);
    if (!point) throw UsageError("--point: '" + a->point + "' is not a quant point (layers.{i}.{module}.{site})");
    PreviewRequest r;
    r.point = *point;
    r.method = parse_preview_method(a->method);
    r.bits = a->bits;
    r.alpha = a->alpha;
    r.baseline = parse_state_method(a->baseline);
    r.variant = parse_dsq_variant(a->variant);
    if (r.baseline == StateMethod::Dsq) throw UsageError("--baseline: dsq is what is compared; use tensor, channel or state");
    r.validate();
    std::string file = a->file;
    if (file.empty()) {
      const auto shipped = shipped_calibration_text();
      if (!shipped) throw UsageError("preview needs --file (no shipped calibration text was found)");
      file = shipped->string();
    }
    LoadedModel m = load_model(a->model, a->o);
    if (r.point.layer >= m.checkpoint.config.n_layer)
      throw UsageError("--point: the model has " + std::to_string(m.checkpoint.config.n_layer) + " layers, not " +
                       std::to_string(r.point.layer + 1));
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<int32_t> ids = encode(tok, read_text_file(file), a->o);
    if (ids.empty()) throw InputError(file, "the text has no tokens");
    if (static_cast<int64_t>(ids.size()) > a->max_tokens) ids.resize(static_cast<size_t>(a->max_tokens));
    const at::Tensor in = at::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    const PreviewSnapshot p = preview_method(*m.model, in, r);
    if (a->o.json) {
      std::printf("%s\n", preview_to_json(p).c_str());
      return 0;
    }
    std::printf("%s  %s  (%lld tokens)\n%s\n", p.point.str().c_str(), p.method.c_str(), (long long)p.tokens,
                p.transform.c_str());
    print_side("before", p.before);
    print_side("after", p.after);
    for (const QuantError& e : p.state_errors)
      std::printf("  %-24s MSE %.6g  SQNR %s\n", e.quantizer.c_str(), e.mse, db(e.sqnr_db).c_str());
    return 0;
  };
}

}  // namespace ms::cli
