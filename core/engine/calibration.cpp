#include "core/engine/calibration.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/engine/device.h"
#include "core/engine/fused_calibration.h"
#include "core/util/error.h"

namespace ms {

CalibStats calibrate(const MambaModel& model, const std::vector<CalibText>& texts,
                     const CalibOptions& o, const ProgressFn& progress) {
  if (o.seq_len < 1) throw UsageError("--seq-len must be at least 1");
  if (o.batch < 1) throw UsageError("--batch must be at least 1");
  // Sequences: [text, begin, length]; each file cut at seq_len, the tail kept.
  struct Seq { size_t text; int64_t begin, len; };
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

  CalibStats stats;
  CalibObserver observer(stats, o.covariance);
  std::unique_ptr<FusedCalibrator> fused;
  std::string why_not;
  if (o.engine != CalibEngine::Reference && FusedCalibrator::supported(model, &why_not))
    fused = std::make_unique<FusedCalibrator>(model, o.covariance);
  else if (o.engine == CalibEngine::Fused)
    throw UsageError("--engine fused: " + why_not);
  int64_t done = 0;
  bool cancelled = false;
  for (size_t i = 0; i < seqs.size() && !cancelled;) {
    size_t j = i;
    while (j < seqs.size() && j - i < static_cast<size_t>(o.batch) && seqs[j].len == seqs[i].len) ++j;
    const int64_t len = seqs[i].len, rows = static_cast<int64_t>(j - i);
    at::Tensor ids = at::empty({rows, len}, at::kLong);
    int64_t* p = ids.data_ptr<int64_t>();
    for (size_t r = i; r < j; ++r) {
      const auto& src = texts[seqs[r].text].ids;
      for (int64_t k = 0; k < len; ++k) *p++ = src[size_t(seqs[r].begin + k)];
    }
    if (fused) fused->run(ids);
    else model.forward(ids, nullptr, &observer);
    stats.tokens += rows * len;
    done += rows * len;
    i = j;
    if (progress && !progress(done, total)) cancelled = true;
  }
  if (fused) fused->finish(stats);
  nlohmann::json text_list = nlohmann::json::array();
  for (const CalibText& t : texts)
    text_list.push_back({{"name", t.name}, {"sha256", t.sha256}, {"tokens", t.ids.size()}});
  auto& m = stats.metadata.fields;
  m["texts"] = text_list.dump();
  m["seq_len"] = std::to_string(o.seq_len);
  m["dtype"] = std::string(dtype_label(model.options().dtype));
  m["device"] = describe_device(model.options().device);
  m["covariance"] = o.covariance ? "true" : "false";
  m["engine"] = fused ? "fused" : "reference";
  m["cancelled"] = cancelled ? "true" : "false";
  m["version"] = MAMBASCOPE_VERSION;
  return stats;
}

}  // namespace ms
