#include "core/engine/calib_stats.h"

#include <cmath>
#include <cstring>

#include <ATen/ATen.h>

#include "core/io/safetensors.h"
#include "core/util/error.h"

namespace ms {
namespace {

at::Tensor to_cpu(const at::Tensor& t, at::ScalarType dtype) { return t.to(at::kCPU, dtype); }

// Max/min that tolerate an undefined left side (the first batch).
void accumulate_max(at::Tensor& acc, const at::Tensor& v) { acc = acc.defined() ? at::maximum(acc, v) : v; }
void accumulate_min(at::Tensor& acc, const at::Tensor& v) { acc = acc.defined() ? at::minimum(acc, v) : v; }
void accumulate_add(at::Tensor& acc, const at::Tensor& v) { acc = acc.defined() ? acc + v : v; }

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::F32;
    case at::kDouble: return DType::F64;
    case at::kLong: return DType::I64;
    default: throw InputError("statistics", "unexpected tensor dtype");
  }
}

at::ScalarType scalar_of(DType d, const std::string& key) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::F64: return at::kDouble;
    case DType::I64: return at::kLong;
    default: throw InputError(key, "statistics tensors are F32, F64 or I64");
  }
}

}  // namespace

at::Tensor histogram_edges() {
  static const at::Tensor edges = [] {
    std::vector<double> e{0.0};
    for (int64_t i = 0; i < kHistBins; ++i) e.push_back(std::pow(10.0, -8.0 + i / 16.0));
    return at::tensor(e, at::kDouble);
  }();
  return edges;
}

void ActivationStats::merge(const ActivationStats& o) {
  accumulate_max(absmax, o.absmax);
  accumulate_min(min, o.min);
  accumulate_max(max, o.max);
  accumulate_add(count, o.count);
  accumulate_add(sum, o.sum);
  accumulate_add(sumsq, o.sumsq);
  accumulate_add(hist, o.hist);
  if (o.cov.defined()) accumulate_add(cov, o.cov);
}

at::Tensor StateStats::mean_abs() const {
  return (sum_abs / static_cast<double>(std::max<int64_t>(1, count))).to(at::kFloat);
}

void StateStats::merge(const StateStats& o) {
  accumulate_max(absmax, o.absmax);
  accumulate_add(sum_abs, o.sum_abs);
  count += o.count;
}

void CalibStats::merge(const CalibStats& o) {
  for (const auto& [k, v] : o.activations) activations[k].merge(v);
  for (const auto& [k, v] : o.states) states[k].merge(v);
  tokens += o.tokens;
}

bool CalibObserver::wants(const QuantPoint& point) const {
  return point.site == Site::Input || point.site == Site::State;
}

void CalibObserver::collect(const QuantPoint& point, const at::Tensor& value) {
  const std::string key = point.str();
  if (point.site == Site::State) {
    // value [B, T, ...state shape]: reduce over batch and tokens.
    at::Tensor a = value.abs().flatten(0, 1);                        // [B*T, ...]
    StateStats batch;
    batch.absmax = to_cpu(a.amax(0), at::kFloat);  // amax: no argmax indices to compute
    batch.sum_abs = to_cpu(a.to(at::kDouble).sum(0), at::kDouble);
    batch.count = a.size(0);
    stats_.states[key].merge(batch);
    return;
  }
  at::Tensor x = value.reshape({-1, value.size(-1)});                // [rows, C]
  at::Tensor xd = x.to(at::kDouble);
  ActivationStats batch;
  batch.absmax = to_cpu(x.abs().amax(0), at::kFloat);
  batch.min = to_cpu(x.amin(0), at::kFloat);
  batch.max = to_cpu(x.amax(0), at::kFloat);
  batch.count = at::full({x.size(1)}, x.size(0), at::kLong);
  batch.sum = to_cpu(xd.sum(0), at::kDouble);
  batch.sumsq = to_cpu(xd.pow(2).sum(0), at::kDouble);
  at::Tensor edges = histogram_edges().to(x.device());
  // Bin i holds edges[i] <= |x| < edges[i+1]; values past the last edge join the last bin.
  at::Tensor bins = (at::bucketize(xd.abs().flatten(), edges, /*out_int32=*/false, /*right=*/true) - 1)
                        .clamp(0, kHistBins - 1);
  batch.hist = to_cpu(at::bincount(bins, {}, kHistBins), at::kLong);
  if (covariance_) batch.cov = to_cpu(at::matmul(xd.t(), xd), at::kDouble);
  stats_.activations[key].merge(batch);
}

void CalibStats::save(const std::filesystem::path& file) const {
  std::vector<at::Tensor> keep;  // contiguous CPU copies alive while writing
  std::vector<TensorToWrite> out;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    keep.push_back(t.to(at::kCPU).contiguous());
    const at::Tensor& c = keep.back();
    out.push_back({name, dtype_of(c), std::vector<int64_t>(c.sizes().begin(), c.sizes().end()),
                   c.data_ptr(), c.nbytes()});
  };
  for (const auto& [k, s] : activations) {
    add(k + ".absmax", s.absmax);
    add(k + ".min", s.min);
    add(k + ".max", s.max);
    add(k + ".count", s.count);
    add(k + ".sum", s.sum);
    add(k + ".sumsq", s.sumsq);
    add(k + ".hist", s.hist);
    add(k + ".hist_edges", histogram_edges());
    if (s.cov.defined()) add(k + ".cov", s.cov);
  }
  for (const auto& [k, s] : states) {
    add(k + ".absmax", s.absmax);
    add(k + ".mean_abs", s.mean_abs());
    add(k + ".sum_abs", s.sum_abs);
    add(k + ".count", at::full({1}, s.count, at::kLong));
  }
  std::map<std::string, std::string> meta = metadata.fields;
  meta["tokens"] = std::to_string(tokens);
  meta["format"] = "mambascope-calib-stats/1";
  write_safetensors(file, out, meta);
}

CalibStats CalibStats::load(const std::filesystem::path& file) {
  TensorStore store;
  CalibStats s;
  s.metadata.fields = read_safetensors(file, store);
  if (s.metadata.fields.count("format") == 0 ||
      s.metadata.fields.at("format").rfind("mambascope-calib-stats/", 0) != 0)
    throw InputError(file.string(), "not a MambaScope statistics file (no format metadata)");
  auto it = s.metadata.fields.find("tokens");
  if (it != s.metadata.fields.end()) s.tokens = std::stoll(it->second);
  for (const auto& [name, v] : store.tensors()) {
    const size_t dot = name.rfind('.');
    const std::string point = name.substr(0, dot), stat = name.substr(dot + 1);
    auto qp = QuantPoint::parse(point);
    if (!qp) throw InputError(file.string(), "tensor '" + name + "' names no quant point");
    at::Tensor t = at::from_blob(const_cast<std::byte*>(v.data), v.shape,
                                 at::TensorOptions().dtype(scalar_of(v.dtype, name))).clone();
    if (qp->site == Site::State) {
      StateStats& st = s.states[point];
      if (stat == "absmax") st.absmax = t;
      else if (stat == "sum_abs") st.sum_abs = t;
      else if (stat == "count") st.count = t.item<int64_t>();
      continue;  // mean_abs is derived
    }
    ActivationStats& a = s.activations[point];
    if (stat == "absmax") a.absmax = t;
    else if (stat == "min") a.min = t;
    else if (stat == "max") a.max = t;
    else if (stat == "count") a.count = t;
    else if (stat == "sum") a.sum = t;
    else if (stat == "sumsq") a.sumsq = t;
    else if (stat == "hist") a.hist = t;
    else if (stat == "cov") a.cov = t;
  }
  return s;
}

}  // namespace ms
