// `bench forward|calibrate [--preset NAME] --out F.json`: throughput on random-init weights of a
// preset's exact shapes. forward: logits (the sequential reference scan); calibrate: the whole
// calibration pipeline with every statistic (calibrate() on random token ids, statistics copied
// to the host each batch). A benchmark reports; it never asserts (speed goals live here, not in
// tests). requant: the live error preview per setting change (cli/bench_requant.cpp).
#include <chrono>
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/requant_common.h"
#include "core/engine/calibration.h"
#include "core/engine/device.h"
#include "core/engine/random_init.h"
#include "core/io/atomic_file.h"
#include "core/util/error.h"
#include "kernels/calib_kernels.h"

namespace ms::cli {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

void synchronize(const c10::Device& d) {
  if (d.is_cuda()) at::zeros({1}, at::TensorOptions().device(d)).cpu();  // waits for the stream
}

}  // namespace

Runner register_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Benchmarks (JSON reports, never assertions)");
  struct Args {
    std::string what, preset = "mamba-130m", out, model;
    int64_t batch = 1, seq_len = 512, iters = 3;
    std::string engine = "auto";
    bool cov = false;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("WHAT", a->what, "forward, calibrate or requant (live error preview per setting)")
      ->required()->check(CLI::IsMember({"forward", "calibrate", "requant"}));
  cmd->add_option("--preset", a->preset, "Model shapes to benchmark")->capture_default_str();
  cmd->add_option("--out", a->out, "JSON report (written atomically)")->required();
  cmd->add_option("--batch", a->batch, "Sequences per forward")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--seq-len", a->seq_len, "Tokens per sequence")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--iters", a->iters, "Timed forwards, or batches for calibrate (after one warm-up)")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--engine", a->engine, "calibrate: auto, fused or reference (see calibrate --help)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fused", "reference"}));
  cmd->add_flag("--cov", a->cov, "calibrate: also accumulate X^T X");
  cmd->add_option("--model", a->model, "requant: a model directory instead of --preset's random weights");
  add_engine_options(cmd, a->o);
  return [a, cmd] {
    if (a->what == "requant") {
      BenchRequantArgs r{a->preset, a->out, a->model};
      // The preview's own batch (2 windows of 128) unless asked otherwise.
      if (cmd->count("--batch")) r.batch = a->batch;
      if (cmd->count("--seq-len")) r.seq_len = a->seq_len;
      r.json = a->o.json;
      return bench_requant(r, engine_options(a->o));
    }
    const Preset& preset = find_preset(a->preset);
    EngineOptions eo = engine_options(a->o);
    auto t0 = std::chrono::steady_clock::now();
    RandomModel rm = random_model(preset.config, 0, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    std::unique_ptr<MambaModel> model = MambaModel::load(ck, eo);
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool calib = a->what == "calibrate";
    // forward: the same batch `iters` times. calibrate: one calibrate() over `iters` batches (one
    // text of iters × batch × seq_len random ids, cut into sequences), as a real run amortises
    // its set-up and the final copy of the statistics to the host.
    at::Tensor ids = at::randint(preset.config.vocab_size, {a->batch, a->seq_len}, at::kLong);
    CalibOptions co;
    co.seq_len = a->seq_len;
    co.batch = a->batch;
    co.covariance = a->cov;
    co.engine = a->engine == "fused" ? CalibEngine::Fused
                : a->engine == "reference" ? CalibEngine::Reference : CalibEngine::Auto;
    auto random_text = [&](int64_t batches) {
      std::vector<CalibText> t(1);
      t[0].name = "random ids";
      at::Tensor r = at::randint(preset.config.vocab_size, {batches * a->batch * a->seq_len}, at::kLong);
      t[0].ids.assign(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
      return t;
    };
    std::string engine_used = "forward";
    int64_t peak_gpu = 0, in_use = 0;
    auto sample_memory = [&] {
      if (eo.device.is_cuda() && kernels::gpu_memory_in_use(&in_use)) peak_gpu = std::max(peak_gpu, in_use);
    };
    // Warm-up: allocator, cuBLAS, lazily loaded kernels, page faults.
    if (calib) calibrate(*model, random_text(1), co);
    else model->forward(ids);
    synchronize(eo.device);
    sample_memory();
    std::vector<double> secs;
    if (calib) {
      std::vector<CalibText> text = random_text(a->iters);
      auto s = std::chrono::steady_clock::now();
      CalibStats st = calibrate(*model, text, co, [&](int64_t done, int64_t total) {
        sample_memory();
        std::fprintf(stderr, "bench calibrate: %lld/%lld tokens\n", (long long)done, (long long)total);
        return true;
      });
      synchronize(eo.device);
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count() /
                     double(a->iters));
      engine_used = st.metadata.fields["engine"];
    } else {
      for (int64_t i = 0; i < a->iters; ++i) {
        auto s = std::chrono::steady_clock::now();
        model->forward(ids);
        synchronize(eo.device);
        secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
        sample_memory();
        std::fprintf(stderr, "bench forward: iteration %lld/%lld: %.3f s\n", (long long)i + 1,
                     (long long)a->iters, secs.back());
      }
    }
    std::vector<double> sorted = secs;
    std::sort(sorted.begin(), sorted.end());
    double median = sorted[sorted.size() / 2];
    double tokens = double(a->batch * a->seq_len);
    nlohmann::json j{{"bench", a->what}, {"tool", "mambascope"}, {"version", MAMBASCOPE_VERSION},
                     {"preset", preset.name}, {"device", describe_device(eo.device)},
                     {"cpu", cpu_model()}, {"threads", at::get_num_threads()},
                     {"dtype", std::string(dtype_label(eo.dtype))}, {"batch", a->batch},
                     {"seq_len", a->seq_len}, {"iterations_s", secs}, {"median_s", median},
                     {"tokens_per_s", tokens / median}, {"setup_s", load_s},
                     {"engine", engine_used},
                     {"note", calib ? "random-init weights and token ids; every statistic "
                                      "(per-channel absmax/min/max/sums, histograms, state absmax "
                                      "and mean |s|), copied to the host per batch; no LM head"
                                    : "random-init weights; logits included; sequential reference scan"}};
    if (eo.device.is_cuda())
      j["peak_gpu_bytes"] = peak_gpu;  // the driver's count (LibTorch's cache included)
    write_file_atomic(a->out, j.dump(2) + "\n");
    if (a->o.json) std::printf("%s\n", j.dump(2).c_str());
    else std::printf("%s %s on %s (%s): %.0f tokens/s (median of %lld)\n", a->what.c_str(), preset.name.c_str(),
                     describe_device(eo.device).c_str(), std::string(dtype_label(eo.dtype)).c_str(),
                     tokens / median, (long long)a->iters);
    return 0;
  };
}

}  // namespace ms::cli
