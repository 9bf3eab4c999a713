// `bench forward [--preset NAME] --out F.json`: forward throughput on random-init weights of a
// preset's exact shapes. A benchmark reports; it never asserts (speed goals live here, not in
// tests). `bench calibrate|requant` arrive with the calibration and quantization issues.
#include <chrono>
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/engine/device.h"
#include "core/engine/random_init.h"
#include "core/io/atomic_file.h"
#include "core/util/error.h"

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
    std::string what, preset = "mamba-130m", out;
    int64_t batch = 1, seq_len = 512, iters = 3;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("WHAT", a->what, "forward (calibrate and requant come with later issues)")
      ->required()->check(CLI::IsMember({"forward", "calibrate", "requant"}));
  cmd->add_option("--preset", a->preset, "Model shapes to benchmark")->capture_default_str();
  cmd->add_option("--out", a->out, "JSON report (written atomically)")->required();
  cmd->add_option("--batch", a->batch, "Sequences per forward")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--seq-len", a->seq_len, "Tokens per sequence")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--iters", a->iters, "Timed forwards (after one warm-up)")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  add_engine_options(cmd, a->o);
  return [a] {
    if (a->what != "forward")
      throw UsageError("bench " + a->what + " is not available yet (it comes with the "
                       "calibration and quantization work); use bench forward");
    const Preset& preset = find_preset(a->preset);
    EngineOptions eo = engine_options(a->o);
    auto t0 = std::chrono::steady_clock::now();
    RandomModel rm = random_model(preset.config, 0, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    std::unique_ptr<MambaModel> model = MambaModel::load(ck, eo);
    double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    at::Tensor ids = at::randint(preset.config.vocab_size, {a->batch, a->seq_len}, at::kLong);
    model->forward(ids);  // warm-up: allocator, kernels, page faults
    synchronize(eo.device);
    std::vector<double> secs;
    for (int64_t i = 0; i < a->iters; ++i) {
      auto s = std::chrono::steady_clock::now();
      model->forward(ids);
      synchronize(eo.device);
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
      std::fprintf(stderr, "bench forward: iteration %lld/%lld: %.3f s\n", (long long)i + 1,
                   (long long)a->iters, secs.back());
    }
    std::vector<double> sorted = secs;
    std::sort(sorted.begin(), sorted.end());
    double median = sorted[sorted.size() / 2];
    double tokens = double(a->batch * a->seq_len);
    nlohmann::json j{{"bench", "forward"}, {"tool", "mambascope"}, {"version", MAMBASCOPE_VERSION},
                     {"preset", preset.name}, {"device", describe_device(eo.device)},
                     {"cpu", cpu_model()}, {"threads", at::get_num_threads()},
                     {"dtype", std::string(dtype_label(eo.dtype))}, {"batch", a->batch},
                     {"seq_len", a->seq_len}, {"iterations_s", secs}, {"median_s", median},
                     {"tokens_per_s", tokens / median}, {"setup_s", load_s},
                     {"note", "random-init weights; logits included; sequential reference scan"}};
    write_file_atomic(a->out, j.dump(2) + "\n");
    if (a->o.json) std::printf("%s\n", j.dump(2).c_str());
    else std::printf("forward %s on %s (%s): %.0f tokens/s (median of %lld)\n", preset.name.c_str(),
                     describe_device(eo.device).c_str(), std::string(dtype_label(eo.dtype)).c_str(),
                     tokens / median, (long long)a->iters);
    return 0;
  };
}

}  // namespace ms::cli
