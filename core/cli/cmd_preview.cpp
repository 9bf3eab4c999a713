// `preview MODEL --point P --method M [--file F] [--max-tokens N] [--bits B] [--alpha A]
// [--baseline tensor|channel|state] [--json]`: what a method does to one point's values, before
// and after (core/quant/method_preview.h). The app's distributions view draws the --json output.
//
// `preview MODEL --serve [--file F] [--max-tokens N]`: the same as a long-lived worker, so the app
// pays for starting, loading torch, the model and the text once, not per method choice. One JSON
// line on stdout when ready, then one request per line on stdin, answered newest first
// (core/cli/json_lines_server.h):
//   out  {"type": "ready", "model", "file", "tokens", "setup_ms"}
//   in   {"id": 3, "point": "layers.5.out_proj.input", "method": "hadamard", "bits": 8,
//         "alpha": 0.5, "baseline": "tensor", "dsq_variant": "abs.mean.sqrt"}  (point, method required)
//   out  {"type": "result", "id": 3, "ms": ..., "preview": <exactly what the one-shot --json prints>}
//        {"type": "superseded", "id"} | {"type": "error", "id", "message"}
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/json_lines_server.h"
#include "core/cli/requant_common.h"
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

// The request the flags (or a server request's fields) describe; UsageError on a bad one. The
// layer is checked against `n_layer` once the model is known (-1: not yet).
PreviewRequest make_request(const std::string& point_name, const std::string& method, int bits, double alpha,
                            const std::string& baseline, const std::string& variant, int64_t n_layer) {
  const auto point = QuantPoint::parse(point_name);
  if (!point) throw UsageError("--point: '" + point_name + "' is not a quant point (layers.{i}.{module}.{site})");
  PreviewRequest r;
  r.point = *point;
  r.method = parse_preview_method(method);
  r.bits = bits;
  r.alpha = alpha;
  r.baseline = parse_state_method(baseline);
  r.variant = parse_dsq_variant(variant);
  if (r.baseline == StateMethod::Dsq) throw UsageError("--baseline: dsq is what is compared; use tensor, channel or state");
  r.validate();
  if (n_layer >= 0 && r.point.layer >= n_layer)
    throw UsageError("--point: the model has " + std::to_string(n_layer) + " layers, not " +
                     std::to_string(r.point.layer + 1));
  return r;
}

}  // namespace

Runner register_preview(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "preview", "Before/after of one method at one quant point: per-channel absmax and variance, "
                 "the |x| histogram, CVs and the error at --bits");
  // The example goes in the footer: the top-level --help lists each command on one line, which
  // packaging/make-man.sh (and a reader) takes the command names from.
  cmd->footer("\nExample:\n  mambascope-cli preview resources/models/demo-mamba --point layers.5.out_proj.input "
              "--method hadamard --file resources/texts/austen.txt --max-tokens 2048 --bits 8\n"
              "\nServe protocol (--serve; stdout is JSON lines):\n"
              "  first  {\"type\": \"ready\", \"model\", \"file\", \"tokens\", \"setup_ms\"}\n"
              "  in     {\"id\": 3, \"point\": \"layers.5.out_proj.input\", \"method\": \"hadamard\", \"bits\": 8, "
              "\"alpha\": 0.5, \"baseline\": \"tensor\", \"dsq_variant\": \"abs.mean.sqrt\"}\n"
              "  out    {\"type\": \"result\", \"id\": 3, \"ms\", \"preview\": <the --json output>}, "
              "{\"type\": \"superseded\", \"id\"} or {\"type\": \"error\", \"id\", \"message\"}\n"
              "  The newest waiting request wins; end of input ends the server.\n");
  struct Args {
    std::string model, point, method, file, baseline = "tensor", variant = "abs.mean.sqrt";
    int64_t max_tokens = 2048;
    bool serve = false;
    int bits = 8;
    double alpha = 0.5;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--point", a->point, "Quant point: layers.{i}.{module}.input or layers.{i}.ssm.state (required "
                                       "unless --serve)");
  cmd->add_option("--method", a->method, "hadamard | klt | smoothquant (activation points), dsq (ssm.state) "
                                         "(required unless --serve)");
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
  cmd->add_flag("--serve", a->serve, "Stay running: read one JSON request per line on stdin, answer each with one "
                                     "JSON line (the protocol is in the footer); --point and --method are then per request");
  return [a] {
    const auto t0 = std::chrono::steady_clock::now();
    if (!a->serve && a->point.empty()) throw UsageError("--point is required (or --serve)");
    if (!a->serve && a->method.empty()) throw UsageError("--method is required (or --serve)");
    std::string file = a->file;
    if (file.empty()) {
      const auto shipped = shipped_calibration_text();
      if (!shipped) throw UsageError("preview needs --file (no shipped calibration text was found)");
      file = shipped->string();
    }
    // A bad --point or --method fails before the model loads; a layer past the model's, after.
    const auto request = [&](int64_t n_layer) {
      return make_request(a->point, a->method, a->bits, a->alpha, a->baseline, a->variant, n_layer);
    };
    if (!a->serve) request(-1);
    LoadedModel m = load_model(a->model, a->o);
    const int64_t n_layer = m.checkpoint.config.n_layer;
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<int32_t> ids = encode(tok, read_text_file(file), a->o);
    if (ids.empty()) throw InputError(file, "the text has no tokens");
    if (static_cast<int64_t>(ids.size()) > a->max_tokens) ids.resize(static_cast<size_t>(a->max_tokens));
    const at::Tensor in = at::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    if (a->serve) {
      const auto since = [](auto start) {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      };
      emit_line(json_line({{"type", "ready"}, {"model", a->model}, {"file", file}, {"tokens", ids.size()},
                           {"setup_ms", since(t0)}}));
      serve_json_lines([&](const nlohmann::json& j, const std::string& where, int64_t& id) {
        if (!j.is_object()) throw InputError(where, "is not a JSON object");
        id = j.value("id", int64_t{0});
        if (!j.contains("point") || !j.contains("method")) throw InputError(where, "needs \"point\" and \"method\"");
        const auto start = std::chrono::steady_clock::now();
        const PreviewRequest r =
            make_request(j.at("point").get<std::string>(), j.at("method").get<std::string>(), j.value("bits", 8),
                         j.value("alpha", 0.5), j.value("baseline", std::string("tensor")),
                         j.value("dsq_variant", std::string("abs.mean.sqrt")), n_layer);
        const std::string preview = preview_to_json(preview_method(*m.model, in, r));
        // The preview goes in as text, so it is byte for byte what the one-shot run prints.
        nlohmann::json head{{"type", "result"}, {"id", id}, {"ms", since(start)}};
        std::string line = head.dump();
        line.pop_back();
        return line + ",\"preview\":" + preview + "}";
      });
      return 0;
    }
    const PreviewSnapshot p = preview_method(*m.model, in, request(n_layer));
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
