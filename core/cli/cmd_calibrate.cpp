// `calibrate MODEL --file F [--file G ...] --out S.safetensors [--seq-len 2048] [--batch N]
// [--max-tokens N] [--cov] [--max-gpu-mem SIZE] [--devices cuda:0,cuda:1]`: statistics at every
// quant point (core/engine/calib_stats.h). Ctrl+C stops between batches and saves what was
// collected, marked cancelled. --max-gpu-mem streams layers from the host when the model does not
// fit (core/engine/gpu_memory_plan.h); --devices deals batches to several GPUs and merges their
// statistics through NCCL (core/engine/calibration.h).
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/engine/calibration.h"
#include "core/engine/device.h"
#include "core/engine/gpu_memory_plan.h"
#include "core/engine/nccl_merge.h"
#include "core/util/error.h"
#include "kernels/calib_kernels.h"
#include "core/util/sha256.h"

namespace ms::cli {
namespace {
volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }
}  // namespace

Runner register_calibrate(CLI::App& app) {
  auto* cmd = app.add_subcommand("calibrate", "Statistics at every quant point (per-channel absmax, "
                                              "min, max, sums, histograms; state absmax and mean |s|)");
  struct Args {
    std::string model, out;
    std::vector<std::string> files;
    int64_t seq_len = 2048, batch = 1, max_tokens = 0;
    bool cov = false;
    std::string engine = "auto";
    std::string max_gpu_mem, devices, merge = "nccl";
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  cmd->add_option("--file", a->files, "UTF-8 text file (repeat for several; each ends a sequence)")
      ->required();
  cmd->add_option("--out", a->out, "Statistics file (.safetensors, written atomically)")->required();
  cmd->add_option("--seq-len", a->seq_len, "Tokens per sequence (the last piece of a file is shorter)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--batch", a->batch, "Sequences per forward")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--max-tokens", a->max_tokens, "Stop after this many tokens (0: all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--cov", a->cov, "Also accumulate X^T X (fp64) at every activation point");
  cmd->add_option("--engine", a->engine, "auto: our fused CUDA kernels on a GPU, the reference "
                                         "forward elsewhere; fused: insist; reference: the "
                                         "observer path (the definition the kernels are checked "
                                         "against)")
      ->capture_default_str()->check(CLI::IsMember({"auto", "fused", "reference"}));
  cmd->add_option("--max-gpu-mem", a->max_gpu_mem,
                  "Bound on what calibration keeps on each GPU (8G, 512M, bytes). Above it the "
                  "weights stay in pinned host memory and each layer is copied in just before it "
                  "runs (same statistics, exactly); ignored with a note on the CPU");
  add_engine_options(cmd, a->o);
  cmd->add_option("--devices", a->devices,
                  "Several GPUs of this host, e.g. cuda:0,cuda:1 (instead of --device): batches "
                  "dealt round-robin, statistics merged on the GPUs through NCCL")
      ->excludes(cmd->get_option("--device"));
  cmd->add_option("--merge", a->merge, "With --devices: nccl (on the GPUs) or host (each GPU's "
                                       "statistics copied and merged on the host; for checking)")
      ->capture_default_str()->check(CLI::IsMember({"nccl", "host"}));
  add_tokenizer_options(cmd, a->o);
  return [a] {
    const int64_t bound = a->max_gpu_mem.empty() ? 0 : parse_byte_size(a->max_gpu_mem);
    EngineOptions eo = engine_options(a->o);
    std::vector<c10::Device> devices;
    if (a->devices.empty()) {
      devices.push_back(eo.device);
    } else {
      std::vector<std::string> names;
      std::set<std::string> seen;
      for (size_t b = 0; b <= a->devices.size();) {
        size_t e = a->devices.find(',', b);
        if (e == std::string::npos) e = a->devices.size();
        names.push_back(a->devices.substr(b, e - b));
        if (names.back().empty() || !seen.insert(names.back() == "cuda" ? "cuda:0" : names.back()).second)
          throw UsageError("--devices: '" + a->devices + "' names an empty or repeated device");
        b = e + 1;
      }
      for (const std::string& name : names) {
        if (!name.starts_with("cuda"))
          throw UsageError("--devices takes CUDA devices (cuda:0,cuda:1); use --device cpu for the CPU");
        const c10::Device d = resolve_device(name);
        devices.push_back(c10::Device(c10::kCUDA, d.index() < 0 ? 0 : d.index()));
      }
      std::string why;
      if (devices.size() > 1 && a->merge == "nccl" && !nccl_available(&why))
        throw UsageError("--devices with " + std::to_string(devices.size()) + " GPUs merges through NCCL: " +
                         why + " (--merge host merges on the host instead)");
    }
    Checkpoint checkpoint = open_checkpoint(a->model);
    Tokenizer tok = load_tokenizer(checkpoint, a->o);
    std::vector<CalibText> texts;
    for (const std::string& f : a->files) {
      std::string content = read_text_file(f);
      texts.push_back({f, sha256_hex(content), encode(tok, content, a->o)});
    }
    CalibOptions co;
    // --max-gpu-mem: resident, streaming or refused, from the sizes of the largest batch.
    if (bound > 0 && !devices[0].is_cuda()) {
      std::fprintf(stderr, "note: --max-gpu-mem ignored: calibrating on the CPU\n");
    } else if (bound > 0) {
      int64_t tokens = 0;
      for (const CalibText& t : texts) tokens += static_cast<int64_t>(t.ids.size());
      if (a->max_tokens > 0) tokens = std::min(tokens, a->max_tokens);
      const int64_t seq = std::max<int64_t>(1, std::min(a->seq_len, tokens));
      const int64_t batch = std::max<int64_t>(1, std::min(a->batch, (tokens + seq - 1) / seq));
      const GpuMemoryPlan plan = plan_gpu_memory(checkpoint.config, eo.dtype == at::kFloat ? 4 : 2,
                                                 batch, seq, a->cov, bound);
      if (plan.placement == GpuPlacement::Refuse) throw UsageError(plan.message);
      std::fprintf(stderr, "%s\n", plan.message.c_str());
      co.stream_layers = plan.placement == GpuPlacement::Stream;
    }
    // One model per GPU, or, when layers stream, one on the host for all of them.
    std::vector<std::unique_ptr<MambaModel>> models;
    std::vector<CalibDevice> where;
    for (const c10::Device& d : devices) {
      if (!co.stream_layers || models.empty()) {
        EngineOptions mo = eo;
        mo.device = co.stream_layers ? c10::Device(c10::kCPU) : d;
        models.push_back(MambaModel::load(checkpoint, mo));
      }
      where.push_back({models.back().get(), d});
    }
    co.merge = a->merge == "host" ? StatsMerge::Host : StatsMerge::Nccl;
    co.seq_len = a->seq_len;
    co.batch = a->batch;
    co.max_tokens = a->max_tokens;
    co.covariance = a->cov;
    co.engine = a->engine == "fused"       ? CalibEngine::Fused
                : a->engine == "reference" ? CalibEngine::Reference
                                           : CalibEngine::Auto;
    auto previous = std::signal(SIGINT, on_sigint);
    ProgressFn bar = progress_reporter("calibrate");
    // The rate between the first and the last batch (setup, model copies and pinning excluded)
    // and the GPU memory in use after each batch (the driver's count: the context and LibTorch's
    // cache included). calibrate_on calls this under its lock, from the device's thread.
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    Clock::time_point first_at{}, last_at{};
    int64_t first_done = 0, last_done = 0, peak_gpu = 0;
    CalibStats stats = calibrate_on(where, texts, co, [&](int64_t done, int64_t total) {
      const Clock::time_point now = Clock::now();
      if (first_done == 0) first_done = done, first_at = now;
      last_done = done, last_at = now;
      int64_t in_use = 0;
      if (devices[0].is_cuda() && kernels::gpu_memory_in_use(&in_use)) peak_gpu = std::max(peak_gpu, in_use);
      bar(done, total);
      return g_interrupted == 0;
    });
    std::signal(SIGINT, previous);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const double steady_s = std::chrono::duration<double>(last_at - first_at).count();
    const double steady_rate = steady_s > 0 ? double(last_done - first_done) / steady_s : 0;
    stats.metadata.fields["model"] = checkpoint.dir.string();
    stats.save(a->out);
    const bool cancelled = stats.metadata.fields["cancelled"] == "true";
    if (a->o.json)
      std::printf("%s\n", nlohmann::json{{"out", a->out}, {"tokens", stats.tokens},
                                         {"points", stats.activations.size() + stats.states.size()},
                                         {"cancelled", cancelled}, {"seconds", seconds},
                                         {"tokens_per_s", seconds > 0 ? stats.tokens / seconds : 0},
                                         {"steady_tokens_per_s", steady_rate},
                                         {"peak_gpu_bytes", peak_gpu},
                                         {"layers", co.stream_layers ? "streamed" : "resident"},
                                         {"devices", devices.size()}}.dump().c_str());
    else
      std::fprintf(stderr, "wrote %s: %lld tokens, %zu activation and %zu state points\n",
                   a->out.c_str(), (long long)stats.tokens, stats.activations.size(), stats.states.size());
    if (cancelled)
      throw InputError(a->out, "interrupted after " + std::to_string(stats.tokens) +
                                   " tokens; the statistics collected so far were saved (marked cancelled)");
    return 0;
  };
}

}  // namespace ms::cli
