#include "core/engine/calibration.h"

#include <exception>
#include <mutex>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/engine/device.h"
#include "core/engine/fused_calibration.h"
#include "core/engine/nccl_merge.h"
#include "core/util/error.h"

namespace ms {

namespace {

struct Seq { size_t text; int64_t begin, len; };
struct Batch { size_t first, last; int64_t len; };  // seqs[first, last), all of length len

// One device's share of the run: a fused calibrator (accumulating on its GPU) or the reference
// observer (accumulating into `local`).
struct Worker {
  CalibDevice where;
  std::unique_ptr<FusedCalibrator> fused;
  CalibStats local;
  std::unique_ptr<CalibObserver> observer;
};

}  // namespace

CalibStats calibrate(const MambaModel& model, const std::vector<CalibText>& texts,
                     const CalibOptions& o, const ProgressFn& progress) {
  return calibrate_on({{&model, model.options().device}}, texts, o, progress);
}

CalibStats calibrate_on(const std::vector<CalibDevice>& devices, const std::vector<CalibText>& texts,
                        const CalibOptions& o, const ProgressFn& progress) {
  if (o.seq_len < 1) throw UsageError("--seq-len must be at least 1");
  if (o.batch < 1) throw UsageError("--batch must be at least 1");
  if (devices.empty()) throw UsageError("calibrate: no device");
  // Sequences: [text, begin, length]; each file cut at seq_len, the tail kept.
  std::vector<Seq> seqs;
  int64_t budget = o.max_tokens > 0 ? o.max_tokens : INT64_MAX, total = 0;
  for (size_t t = 0; t < texts.size() && budget > 0; ++t) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(texts[t].ids.size()), budget);
    for (int64_t b = 0; b < n; b += o.seq_len) seqs.push_back({t, b, std::min(o.seq_len, n - b)});
    budget -= n;
    total += n;
  }
  if (total == 0) throw InputError("", "the calibration texts have no tokens");
  // Equal lengths batch together (full sequences first, then each shorter one on its own length).
  std::stable_sort(seqs.begin(), seqs.end(), [](const Seq& a, const Seq& b) { return a.len > b.len; });
  std::vector<Batch> batches;
  for (size_t i = 0; i < seqs.size();) {
    size_t j = i;
    while (j < seqs.size() && j - i < static_cast<size_t>(o.batch) && seqs[j].len == seqs[i].len) ++j;
    batches.push_back({i, j, seqs[i].len});
    i = j;
  }
  auto ids_of = [&](const Batch& b) {
    at::Tensor ids = at::empty({static_cast<int64_t>(b.last - b.first), b.len}, at::kLong);
    int64_t* p = ids.data_ptr<int64_t>();
    for (size_t r = b.first; r < b.last; ++r) {
      const auto& src = texts[seqs[r].text].ids;
      for (int64_t k = 0; k < b.len; ++k) *p++ = src[size_t(seqs[r].begin + k)];
    }
    return ids;
  };

  // The layers' pinned host blocks, shared by every device when streaming.
  std::shared_ptr<const PinnedLayers> pinned;
  if (o.fake_quant && (o.engine == CalibEngine::Fused || o.stream_layers))
    throw UsageError("run-time transforms in calibration need the reference engine (not --engine fused "
                     "or --max-gpu-mem)");
  if (o.stream_layers) {
    if (o.engine == CalibEngine::Reference)
      throw UsageError("layer streaming (--max-gpu-mem) runs the fused engine, not --engine reference");
    for (const CalibDevice& d : devices) {
      std::string why;
      if (d.model != devices[0].model) throw UsageError("layer streaming: one host model for every device");
      if (!d.device.is_cuda() || !cuda_available(&why))
        throw UsageError("layer streaming (--max-gpu-mem) needs a GPU: " +
                         (why.empty() ? describe_device(d.device) + " is not one" : why));
      if (!FusedCalibrator::supported_on(*d.model, d.device, &why))
        throw UsageError("layer streaming (--max-gpu-mem): " + why);
    }
    pinned = std::make_shared<const PinnedLayers>(*devices[0].model);
  }

  const int64_t n_workers = static_cast<int64_t>(devices.size());
  std::vector<Worker> workers(devices.size());
  std::mutex progress_mutex;
  int64_t done = 0;
  bool cancelled = false;  // under progress_mutex
  std::vector<std::exception_ptr> errors(devices.size());
  auto work = [&](int64_t k) {
    Worker& w = workers[size_t(k)];
    w.where = devices[size_t(k)];
    try {
      std::string why_not;
      if (pinned)
        w.fused = std::make_unique<FusedCalibrator>(*w.where.model, o.covariance, w.where.device, pinned);
      else if (o.engine != CalibEngine::Reference && !o.fake_quant && FusedCalibrator::supported(*w.where.model, &why_not))
        w.fused = std::make_unique<FusedCalibrator>(*w.where.model, o.covariance);
      else if (o.engine == CalibEngine::Fused)
        throw UsageError("--engine fused: " + why_not);
      else
        w.observer = std::make_unique<CalibObserver>(w.local, o.covariance);
      for (size_t b = 0; b < batches.size(); ++b) {
        if (!runs_batch(static_cast<int64_t>(b), k, n_workers)) continue;
        {
          std::lock_guard<std::mutex> lock(progress_mutex);
          if (cancelled) break;
        }
        at::Tensor ids = ids_of(batches[b]);
        if (w.fused) w.fused->run(ids);
        else w.where.model->forward(ids, nullptr, w.observer.get(), o.fake_quant);
        w.local.tokens += ids.numel();
        std::lock_guard<std::mutex> lock(progress_mutex);
        done += ids.numel();
        if (progress && !progress(done, total)) cancelled = true;
      }
    } catch (...) {
      errors[size_t(k)] = std::current_exception();
      std::lock_guard<std::mutex> lock(progress_mutex);
      cancelled = true;  // the other devices stop at their next batch
    }
  };
  if (n_workers == 1) {
    work(0);
  } else {
    std::vector<std::thread> threads;
    for (int64_t k = 0; k < n_workers; ++k) threads.emplace_back(work, k);
    for (std::thread& t : threads) t.join();
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);

  CalibStats stats;
  std::vector<FusedCalibrator*> ran;  // fused calibrators that saw at least one batch
  for (Worker& w : workers) {
    if (w.fused && w.fused->batches_run() > 0) ran.push_back(w.fused.get());
    if (!w.fused) stats.merge(w.local);  // the reference path: the host merge
  }
  const bool nccl = ran.size() > 1 && o.merge == StatsMerge::Nccl;
  if (nccl) {
    nccl_reduce_into_first(ran);
    ran[0]->finish(stats);
  } else {
    for (FusedCalibrator* f : ran) f->finish(stats);
  }
  stats.tokens = 0;  // what the workers fed (the host merge above added the same)
  for (Worker& w : workers) stats.tokens += w.local.tokens;

  nlohmann::json text_list = nlohmann::json::array();
  for (const CalibText& t : texts)
    text_list.push_back({{"name", t.name}, {"sha256", t.sha256}, {"tokens", t.ids.size()}});
  std::string device_list;
  for (const CalibDevice& d : devices)
    device_list += (device_list.empty() ? "" : ", ") + describe_device(d.device);
  auto& m = stats.metadata.fields;
  m["texts"] = text_list.dump();
  m["seq_len"] = std::to_string(o.seq_len);
  m["dtype"] = std::string(dtype_label(devices[0].model->options().dtype));
  m["device"] = device_list;
  m["covariance"] = o.covariance ? "true" : "false";
  m["engine"] = workers[0].fused ? "fused" : "reference";
  if (pinned) m["layers"] = "streamed";
  if (n_workers > 1) m["merge"] = nccl ? "nccl" : "host";
  m["cancelled"] = cancelled ? "true" : "false";
  m["version"] = MAMBASCOPE_VERSION;
  return stats;
}

}  // namespace ms
