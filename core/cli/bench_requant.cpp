// `bench requant [--preset NAME]`: how long the live error preview takes from a new setting to the
// refreshed whole-model error (issue 6's goal: <= 100 ms for mamba-130m on an H100). Random-init
// weights of the preset's exact shapes and random token ids as the cached batch (--batch windows of
// --seq-len tokens; requant's defaults 2 × 128, the app's batch), then a series of settings in the
// order a user drags the sliders: global W, then A, then H (each method), per-layer overrides,
// granularity and symmetry, back to float. Each is timed from the request to its reply line
// (evaluate + the JSON the server would write). A benchmark reports; it never asserts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/cli/requant_common.h"
#include "core/engine/device.h"
#include "core/engine/random_init.h"
#include "core/engine/weight_set.h"
#include "core/io/atomic_file.h"

namespace ms::cli {
using nlohmann::json;

namespace {

void synchronize(const c10::Device& d) {
  if (d.is_cuda()) at::zeros({1}, at::TensorOptions().device(d)).cpu();
}

// The largest of 128, 64, ... that divides every quantized weight's row (dt_proj's is the dt rank).
int64_t group_size_for(const ModelConfig& c) {
  for (int64_t g = 128; g > 1; g /= 2)
    if (c.d_model % g == 0 && c.d_inner % g == 0 && (c.is_mamba2() || c.dt_rank % g == 0)) return g;
  return 1;
}

std::vector<RequantSetting> slider_series(const ModelConfig& config) {
  const int n_layer = int(config.n_layer);
  std::vector<RequantSetting> out;
  RequantSetting s;
  auto push = [&](const char* what) {
    (void)what;
    s.id = int64_t(out.size()) + 1;
    out.push_back(s);
  };
  for (int w : {8, 6, 4, 3}) { s.wbits = w; push("W"); }
  for (int b : {8, 6, 4}) { s.abits = b; push("A"); }
  for (int h : {8, 6, 4}) { s.hbits = h; push("H"); }
  for (StateMethod m : {StateMethod::Tensor, StateMethod::Channel, StateMethod::State, StateMethod::Dsq}) {
    s.state_method = m;
    push("state method");
  }
  for (int layer : {0, n_layer / 2, n_layer - 1}) { s.layers[layer].wbits = 8; push("layer W"); }
  s.layers[0].hbits = 8;
  push("layer H");
  s.granularity = "group:" + std::to_string(group_size_for(config));
  push("granularity");
  s.symmetric = false;
  push("asym");
  s = RequantSetting{};
  push("float");
  return out;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

}  // namespace

int bench_requant(const BenchRequantArgs& a, const EngineOptions& eo) {
  auto t0 = std::chrono::steady_clock::now();
  // A preset's random weights, or a real model (the demo models: the app's CPU figure).
  std::optional<RandomModel> rm;
  Checkpoint ck;
  std::string name = a.model;
  if (a.model.empty()) {
    const Preset& preset = find_preset(a.preset);
    name = preset.name;
    rm = random_model(preset.config, 0, at::kFloat);
    ck = rm->as_checkpoint();
  } else {
    ck = open_checkpoint(a.model);
  }
  at::Tensor ids = at::randint(ck.config.vocab_size, {a.batch, a.seq_len}, at::kLong);
  RequantSession session(ck, eo, ids);
  synchronize(eo.device);
  const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Warm-up: allocator, lazily loaded kernels, the first rounding of every weight.
  {
    RequantSetting warm;
    warm.wbits = 4;
    warm.abits = 8;
    warm.hbits = 8;
    session.evaluate(warm);
    synchronize(eo.device);
  }
  json rows = json::array();
  std::vector<double> ms_all, ms_eval;
  for (const RequantSetting& s : slider_series(ck.config)) {
    const auto start = std::chrono::steady_clock::now();
    const RequantResult r = session.evaluate(s);
    synchronize(eo.device);
    const double eval_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const std::string line = json_line(requant_result_json(r, eval_ms));
    const double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ms_all.push_back(total_ms);
    ms_eval.push_back(eval_ms);
    std::fprintf(stderr, "bench requant: setting %lld: %.1f ms (evaluate %.1f ms, %lld weights re-rounded)\n",
                 (long long)s.id, total_ms, eval_ms, (long long)r.weights_rounded);
    rows.push_back({{"setting", s.to_json()}, {"ms", total_ms}, {"evaluate_ms", eval_ms},
                    {"reply_bytes", line.size()}, {"weights_rounded", r.weights_rounded},
                    {"model_reloaded", r.model_reloaded}, {"kl_mean", r.end_to_end.kl_mean}});
  }
  json j{{"bench", "requant"}, {"tool", "mambascope"}, {"version", MAMBASCOPE_VERSION},
         {"model", name}, {"device", describe_device(eo.device)},
         {"threads", at::get_num_threads()}, {"dtype", std::string(dtype_label(eo.dtype))},
         {"windows", a.batch}, {"seq_len", a.seq_len}, {"tokens", a.batch * a.seq_len},
         {"settings", rows}, {"median_ms", quantile(ms_all, 0.5)}, {"p90_ms", quantile(ms_all, 0.9)},
         {"max_ms", *std::max_element(ms_all.begin(), ms_all.end())},
         {"median_evaluate_ms", quantile(ms_eval, 0.5)}, {"setup_s", setup_s},
         {"note", std::string(a.model.empty() ? "random-init weights and ids" : "the model's weights, random ids") +
                      "; per setting: the quantized forward with every point's error, per-token KL "
                      "and per-token point SQNR, and the reply's JSON"}};
  write_file_atomic(a.out, j.dump(2) + "\n");
  if (a.json) std::printf("%s\n", j.dump(2).c_str());
  else
    std::printf("requant %s on %s (%s), %lld tokens: median %.1f ms, p90 %.1f ms per setting\n",
                name.c_str(), describe_device(eo.device).c_str(),
                std::string(dtype_label(eo.dtype)).c_str(), (long long)(a.batch * a.seq_len),
                quantile(ms_all, 0.5), quantile(ms_all, 0.9));
  return 0;
}

}  // namespace ms::cli
