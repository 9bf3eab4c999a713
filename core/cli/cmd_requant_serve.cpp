// `requant-serve MODEL`: the app's worker for the live error preview (the Quantization dock's
// sliders). It builds a RequantSession once (core/engine/requant.h) from a cached calibration
// batch of the text (--windows × --seq-len tokens from its start), prints one "ready" line, then
// reads one JSON setting per line on stdin (core/quant/requant_setting.h) and answers each with one
// JSON line on stdout:
//   {"type": "ready", "windows", "seq_len", "ids": [...], "pieces": [...], "points": [...],
//    "layers", "device", "dtype", "setup_ms"}
//   {"type": "result", "id", ...}       (cli/requant_common.h)
//   {"type": "superseded", "id"}        a request dropped because a newer one was already queued
//   {"type": "error", "id", "message"}  a bad request; the server keeps serving
// Latest wins (core/cli/json_lines_server.h): after each evaluation it takes every line already
// waiting and evaluates only the last one, so a slider dragged faster than the model runs never
// builds a backlog. End of input ends the server (exit 0). Progress and fatal errors go to
// stderr, as everywhere.
#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/json_lines_server.h"
#include "core/cli/requant_common.h"
#include "core/engine/calib_stats.h"
#include "core/engine/device.h"
#include "core/engine/requant.h"
#include "core/util/error.h"

namespace ms::cli {
using nlohmann::json;

Runner register_requant_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "requant-serve",
      "The app's worker for the live error preview: reads one JSON bit-width setting per line on "
      "stdin, answers each with one JSON line of per-point SQNR/MSE, per-token KL and end-to-end "
      "metrics on a cached calibration batch (the newest queued request wins)");
  struct Args {
    std::string model, file, stats;
    int64_t windows = 2, seq_len = 128;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--file", a->file, "Calibration text (default: the shipped Austen text)");
  cmd->add_option("--windows", a->windows, "Windows in the cached batch")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  cmd->add_option("--seq-len", a->seq_len, "Tokens per window (each from a zero state)")
      ->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{1} << 16));
  cmd->add_option("--stats", a->stats, "Calibration statistics for static activation scales "
                                       "(default: the batch's own absmax)");
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  cmd->footer(R"(
Protocol (stdout is always JSON lines; --json changes nothing):
  first   {"type": "ready", "windows", "seq_len", "layers", "ids", "pieces", "points", "device", ...}
  in      {"id": 7, "wbits": 4, "abits": 8, "hbits": 4, "granularity": "channel|tensor|group:G",
           "symmetric": true, "state_method": "dsq|tensor|channel|state", "dsq_variant": "...",
           "act_scale": "dynamic|static", "act_granularity": "token|tensor", "token_detail": true,
           "layers": {"3": {"wbits": 8, "abits": 16, "hbits": 4}}}   (every field optional; 16: float)
  out     {"type": "result", "id": 7, "ms", "end_to_end", "points", "weights", "kl", "token_sqnr"}
          {"type": "superseded", "id"} for a request a newer queued one replaced
          {"type": "error", "id", "message"} for a bad request (the server keeps serving)
End of input ends the server (exit 0).)");
  return [a] {
    const auto t0 = std::chrono::steady_clock::now();
    std::string file = a->file;
    if (file.empty()) {
      const auto shipped = shipped_calibration_text();
      if (!shipped) throw UsageError("no --file given and the shipped text (texts/austen.txt) is missing");
      file = shipped->string();
    }
    LoadedModel m = load_model(a->model, a->o);
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<int32_t> ids = encode(tok, read_text_file(file), a->o);
    const int64_t need = a->windows * a->seq_len;
    if (int64_t(ids.size()) < need)
      throw InputError(file, "has " + std::to_string(ids.size()) + " tokens; the batch needs " +
                                 std::to_string(need) + " (--windows × --seq-len)");
    ids.resize(size_t(need));
    std::optional<CalibStats> stats;
    if (!a->stats.empty()) stats = CalibStats::load(a->stats);
    const at::Tensor batch =
        at::tensor(std::vector<int64_t>(ids.begin(), ids.end())).reshape({a->windows, a->seq_len});
    const EngineOptions eo = m.model->options();
    m.model.reset();  // the session loads its own copies
    RequantSession session(m.checkpoint, eo, batch, stats ? &*stats : nullptr);

    json pieces = json::array(), points = json::array();
    for (int32_t id : ids) pieces.push_back(tok.decode(std::span<const int32_t>(&id, 1)));
    for (const QuantPoint& p : session.points()) points.push_back(p.str());
    emit_line(json_line(
        {{"type", "ready"}, {"model", a->model}, {"file", file}, {"windows", a->windows},
         {"seq_len", a->seq_len}, {"layers", session.config().n_layer}, {"ids", ids},
         {"pieces", pieces}, {"points", points}, {"device", describe_device(eo.device)},
         {"dtype", std::string(dtype_label(eo.dtype))},
         {"setup_ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()}}));

    serve_json_lines([&](const json& j, const std::string& where, int64_t& id) {
      const RequantSetting s = RequantSetting::from_json(j, where);
      id = s.id;
      const auto start = std::chrono::steady_clock::now();
      const RequantResult r = session.evaluate(s);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      return json_line(requant_result_json(r, ms));
    });
    return 0;
  };
}

}  // namespace ms::cli
