// The fused calibration forward: one layer at a time, ATen for the Linears and norms (the same
// calls as mamba_model.cpp, so the same roundings), our kernels for the rest. Shapes beside each
// step; B·T rows flattened as the kernels take them.
#include "core/engine/fused_calibration.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <ATen/ATen.h>

#include <c10/core/DeviceGuard.h>

#include "core/util/error.h"
#include "kernels/calib_kernels.h"
#include "kernels/cuda_stream.h"

namespace ms {
namespace k = ms::kernels;

namespace {

k::DataType kernel_dtype(at::ScalarType t) {
  if (t == at::kFloat) return k::DataType::F32;
  if (t == at::kBFloat16) return k::DataType::BF16;
  throw UsageError("the fused calibration runs in fp32 or bf16");
}

k::ChannelStats channel_stats_of(const at::Tensor& absmax, const at::Tensor& min,
                                 const at::Tensor& max, const at::Tensor& sum,
                                 const at::Tensor& sumsq, const at::Tensor& hist) {
  k::ChannelStats s;
  s.absmax = absmax.data_ptr<float>();
  s.min = min.data_ptr<float>();
  s.max = max.data_ptr<float>();
  s.sum = sum.data_ptr<double>();
  s.sumsq = sumsq.data_ptr<double>();
  s.hist = reinterpret_cast<unsigned long long*>(hist.data_ptr<int64_t>());
  return s;
}

// MAMBASCOPE_PROFILE=1: synchronise after every stage and print where the time went (stderr,
// when the calibrator is destroyed). Slows the run; for finding the bottleneck only.
class StageClock {
 public:
  StageClock() : on_(std::getenv("MAMBASCOPE_PROFILE") != nullptr) { last_ = now(); }
  void operator()(const char* stage) {
    if (!on_) return;
    k::cuda_synchronize();
    const double t = now();
    totals_[stage] += t - last_;
    last_ = t;
  }
  void reset() {  // no write when off: several GPUs' calibrators are built in their own threads
    if (on_) totals_.clear();
  }
  void restart() {
    if (!on_) return;
    k::cuda_synchronize();
    last_ = now();
  }
  ~StageClock() {
    if (!on_ || totals_.empty()) return;
    double sum = 0;
    for (const auto& [s, v] : totals_) sum += v;
    std::fprintf(stderr, "fused calibration profile (synchronised; total %.1f ms):\n", sum * 1e3);
    for (const auto& [s, v] : totals_)
      std::fprintf(stderr, "  %-12s %8.2f ms %5.1f%%\n", s.c_str(), v * 1e3, 100 * v / sum);
  }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  bool on_;
  double last_ = 0;
  std::map<std::string, double> totals_;
};

StageClock& stage_clock() {
  static StageClock clock;
  return clock;
}

}  // namespace

bool FusedCalibrator::supported(const MambaModel& model, std::string* why_not) {
  return supported_on(model, model.options().device, why_not);
}

bool FusedCalibrator::supported_on(const MambaModel& model, c10::Device device, std::string* why_not) {
  auto no = [&](const std::string& why) {
    if (why_not) *why_not = why;
    return false;
  };
  const ModelConfig& c = model.config();
  if (!device.is_cuda()) return no("the model is not on a CUDA device");
  if (model.options().device != device && !model.options().device.is_cpu())
    return no("the model is on another device");
  if (!k::cuda_kernels_built()) return no("this build has no CUDA kernels");
  if (c.is_mamba2() && c.d_state > k::kMaxScanStatesM2) return no("d_state above the kernel's limit");
  if (!c.is_mamba2() && c.d_state > k::kMaxScanStatesM1) return no("d_state above the kernel's limit");
  if (c.d_model > k::kMaxNormWidth) return no("d_model above the norm kernel's limit");
  if (c.d_conv > 8) return no("d_conv above the conv kernel's limit (8)");
  return true;
}

namespace {
// Our kernels run on the static CUDA runtime's current device, LibTorch's ops on its own: a
// calibrator makes both its device before any work (each GPU's worker thread runs its own).
void make_current(c10::Device device) {
  kernels::cuda_set_device(device.index() < 0 ? 0 : device.index());
}
}  // namespace

FusedCalibrator::FusedCalibrator(const MambaModel& model, bool covariance)
    : model_(model), covariance_(covariance), device_(model.options().device) {
  std::string why;
  if (!supported(model, &why)) throw UsageError("fused calibration: " + why);
  c10::DeviceGuard guard(device_);
  make_current(device_);
  stage_clock().reset();  // the profile covers the latest calibrator (a benchmark's timed run)
  for (int64_t i = 0; i < model.config().n_layer; ++i) {
    const LayerWeights& w = model.layer(i);
    LayerOperands ops;
    ops.weights = &w;
    ops.conv_w = w.conv.to(at::kFloat).contiguous();
    if (w.conv_bias.defined()) ops.conv_b = w.conv_bias.to(at::kFloat).contiguous();
    resident_.push_back(std::move(ops));
  }
}

FusedCalibrator::FusedCalibrator(const MambaModel& model, bool covariance, c10::Device device,
                                 std::shared_ptr<const PinnedLayers> layers)
    : model_(model), covariance_(covariance), device_(device) {
  std::string why;
  if (!supported_on(model, device, &why)) throw UsageError("fused calibration: " + why);
  if (!model.options().device.is_cpu())
    throw UsageError("layer streaming: the model's weights must stay on the host");
  c10::DeviceGuard guard(device_);
  make_current(device_);
  stage_clock().reset();
  streamer_ = std::make_unique<LayerStreamer>(std::move(layers), device_);
}

const LayerOperands& FusedCalibrator::operands(int64_t i) {
  return streamer_ ? streamer_->acquire(i) : resident_[static_cast<size_t>(i)];
}

FusedCalibrator::~FusedCalibrator() = default;

FusedCalibrator::PointAcc& FusedCalibrator::point(int64_t layer, Module m, int64_t C) {
  const std::string key = QuantPoint{int(layer), m, Site::Input}.str();
  auto it = points_.find(key);
  if (it != points_.end()) return it->second;
  const auto dev = at::TensorOptions().device(device_);
  PointAcc p;
  p.absmax = at::zeros({C}, dev.dtype(at::kFloat));
  p.min = at::full({C}, std::numeric_limits<float>::infinity(), dev.dtype(at::kFloat));
  p.max = at::full({C}, -std::numeric_limits<float>::infinity(), dev.dtype(at::kFloat));
  p.sum = at::zeros({C}, dev.dtype(at::kDouble));
  p.sumsq = at::zeros({C}, dev.dtype(at::kDouble));
  p.hist = at::zeros({kHistBins}, dev.dtype(at::kLong));
  if (covariance_) p.cov = at::zeros({C, C}, dev.dtype(at::kDouble));
  return points_.emplace(key, std::move(p)).first->second;
}

// value2d: [rows, C] with row stride ld (a column slice of a wider activation is fine).
void FusedCalibrator::observe(int64_t layer, Module m, const at::Tensor& value2d, int64_t ld) {
  const int64_t rows = value2d.size(0), C = value2d.size(1);
  PointAcc& p = point(layer, m, C);
  k::channel_stats_cuda(value2d.data_ptr(), kernel_dtype(value2d.scalar_type()), rows, C, ld,
                        channel_stats_of(p.absmax, p.min, p.max, p.sum, p.sumsq, p.hist), nullptr);
  p.rows += rows;
  if (covariance_) {
    // fp32 products per batch (TF32 stays off: ATen's default for fp32 matmuls), fp64 across.
    at::Tensor xf = value2d.to(at::kFloat);
    p.cov += at::matmul(xf.t(), xf).to(at::kDouble);
  }
}

at::Tensor FusedCalibrator::mamba1_layer(int64_t i, const LayerOperands& ops, const at::Tensor& h) {
  const LayerWeights& w = *ops.weights;
  const ModelConfig& c = model_.config();
  const int64_t E = c.d_inner, N = c.d_state, R = c.dt_rank, rows = h.size(0);
  const int64_t Bsz = batch_, T = rows / batch_;
  const at::ScalarType dt = h.scalar_type();
  StageClock& clk = stage_clock();
  const at::Tensor& h2 = h;  // [rows, d], in_proj.input (its statistics came with the norm)
  at::Tensor xz = at::linear(h2, w.in_proj, w.in_proj_bias);            // [rows, 2E]
  clk("in_proj");
  at::Tensor x = at::empty({rows, E}, xz.options());                    // [rows, E]
  k::ConvArgs ca;
  ca.batch = Bsz; ca.seqlen = T; ca.channels = E; ca.width = c.d_conv;
  ca.dtype = kernel_dtype(dt); ca.x = xz.data_ptr(); ca.ldx = 2 * E;
  ca.weight = ops.conv_w.data_ptr<float>();
  ca.bias = ops.conv_b.defined() ? ops.conv_b.data_ptr<float>() : nullptr;
  ca.y = x.data_ptr();
  k::conv1d_silu_cuda(ca, nullptr);
  clk("conv");
  observe(i, Module::XProj, x, E);
  clk("stats");
  at::Tensor dbc = at::linear(x, w.x_proj);                             // [rows, R + 2N]
  clk("x_proj");
  at::Tensor dt_in = dbc.narrow(-1, 0, R), Bm = dbc.narrow(-1, R, N), Cm = dbc.narrow(-1, R + N, N);
  int64_t ld_dt_in = R + 2 * N, ld_bc = R + 2 * N;
  if (c.arch == Arch::FalconMamba) {
    auto weightless = [&](const at::Tensor& v) {
      at::Tensor vf = v.to(at::kFloat);
      return (vf * at::rsqrt(vf.pow(2).mean(-1, true) + c.mixer_rms_eps)).to(dt);
    };
    dt_in = weightless(dt_in).contiguous();
    at::Tensor bc = at::cat({weightless(Bm), weightless(Cm)}, -1).contiguous();  // [rows, 2N]
    Bm = bc.narrow(-1, 0, N);
    Cm = bc.narrow(-1, N, N);
    ld_dt_in = R;
    ld_bc = 2 * N;
  }
  observe(i, Module::DtProj, dt_in, ld_dt_in);
  clk("stats");
  at::Tensor dt_raw = at::linear(dt_in, w.dt_proj);                     // [rows, E], no bias
  clk("dt_proj");
  at::Tensor y = at::empty({rows, E}, xz.options());                    // gated, compute dtype
  PointAcc& out_point = point(i, Module::OutProj, E);
  const std::string skey = QuantPoint{int(i), Module::Ssm, Site::State}.str();
  StateAcc& st = states_[skey];
  if (!st.absmax.defined()) {
    st.absmax = at::zeros({E, N}, xz.options().dtype(at::kFloat));
    st.sum_abs = at::zeros({E, N}, xz.options().dtype(at::kDouble));
  }
  k::ScanM1Args a;
  a.batch = Bsz; a.seqlen = T; a.E = E; a.N = N; a.dtype = kernel_dtype(dt);
  a.x = x.data_ptr(); a.ldx = E;
  a.dt_raw = dt_raw.data_ptr(); a.lddt = E;
  a.dt_bias = w.dt_proj_bias.data_ptr<float>();
  a.A = w.A.data_ptr<float>();
  a.Bm = Bm.data_ptr(); a.Cm = Cm.data_ptr(); a.ldbc = ld_bc;
  a.D = w.D.data_ptr<float>();
  a.z = xz.narrow(-1, E, E).data_ptr(); a.ldz = 2 * E;
  a.y = y.data_ptr();
  a.state_absmax = st.absmax.data_ptr<float>();
  a.state_sum_abs = st.sum_abs.data_ptr<double>();
  a.y_stats = channel_stats_of(out_point.absmax, out_point.min, out_point.max, out_point.sum,
                               out_point.sumsq, out_point.hist);
  k::scan_m1_cuda(a, nullptr);
  clk("scan");
  st.count += rows;
  out_point.rows += rows;
  if (covariance_) {
    // The reference observes the fp32 gated y; the kernel kept only its rounded copy, so the
    // covariance (extra, outside the speed goals) is taken from that copy in fp32.
    at::Tensor yf = y.to(at::kFloat);
    out_point.cov += at::matmul(yf.t(), yf).to(at::kDouble);
  }
  at::Tensor out = at::linear(y, w.out_proj, w.out_proj_bias);         // [rows, d]
  clk("out_proj");
  return out;
}

at::Tensor FusedCalibrator::mamba2_layer(int64_t i, const LayerOperands& ops, const at::Tensor& h) {
  const LayerWeights& w = *ops.weights;
  const ModelConfig& c = model_.config();
  const int64_t E = c.d_inner, N = c.d_state, G = c.n_groups, H = c.n_heads, P = c.head_dim;
  const int64_t rows = h.size(0), Bsz = batch_, T = rows / batch_, width = 2 * E + 2 * G * N + H;
  const at::ScalarType dt = h.scalar_type();
  StageClock& clk = stage_clock();
  const at::Tensor& h2 = h;  // [rows, d], in_proj.input (its statistics came with the norm)
  at::Tensor zxbcdt = at::linear(h2, w.in_proj, w.in_proj_bias);        // [rows, 2E + 2GN + H]
  clk("in_proj");
  at::Tensor xbc = at::empty({rows, c.conv_dim}, zxbcdt.options());     // [rows, E + 2GN]
  k::ConvArgs ca;
  ca.batch = Bsz; ca.seqlen = T; ca.channels = c.conv_dim; ca.width = c.d_conv;
  ca.dtype = kernel_dtype(dt); ca.x = zxbcdt.narrow(-1, E, c.conv_dim).data_ptr(); ca.ldx = width;
  ca.weight = ops.conv_w.data_ptr<float>();
  ca.bias = ops.conv_b.defined() ? ops.conv_b.data_ptr<float>() : nullptr;
  ca.y = xbc.data_ptr();
  k::conv1d_silu_cuda(ca, nullptr);
  clk("conv");
  at::Tensor y = at::empty({rows, E}, zxbcdt.options().dtype(at::kFloat));  // [rows, H*P] fp32
  const std::string skey = QuantPoint{int(i), Module::Ssm, Site::State}.str();
  StateAcc& st = states_[skey];
  if (!st.absmax.defined()) {
    st.absmax = at::zeros({H, P, N}, y.options());
    st.sum_abs = at::zeros({H, P, N}, y.options().dtype(at::kDouble));
  }
  k::ScanM2Args a;
  a.batch = Bsz; a.seqlen = T; a.H = H; a.P = P; a.N = N; a.G = G; a.dtype = kernel_dtype(dt);
  a.x = xbc.data_ptr(); a.ldx = c.conv_dim;
  a.dt_raw = zxbcdt.narrow(-1, E + c.conv_dim, H).data_ptr(); a.lddt = width;
  a.dt_bias = w.dt_bias.data_ptr<float>();
  a.dt_min = float(c.dt_limit_min);
  a.dt_max = float(c.dt_limit_max);
  a.A = w.A.data_ptr<float>();
  a.Bm = xbc.narrow(-1, E, G * N).data_ptr(); a.Cm = xbc.narrow(-1, E + G * N, G * N).data_ptr();
  a.ldbc = c.conv_dim;
  a.D = w.D.data_ptr<float>();
  a.y = y.data_ptr<float>();
  a.state_absmax = st.absmax.data_ptr<float>();
  a.state_sum_abs = st.sum_abs.data_ptr<double>();
  k::scan_m2_cuda(a, nullptr);
  clk("scan");
  st.count += rows;
  // Gated RMSNorm exactly as mamba_model.cpp (y · silu(z), per group or over all E).
  at::Tensor z = zxbcdt.narrow(-1, 0, E);
  at::Tensor g = y * at::silu(z.to(at::kFloat));
  const int64_t groups = model_.options().gated_norm == GatedNorm::PerGroup ? G : 1;
  at::Tensor gg = g.reshape({rows, groups, E / groups});
  gg = gg * at::rsqrt(gg.pow(2).mean(-1, true) + c.norm_eps);
  at::Tensor normed = (w.gated_norm * gg.reshape({rows, E})).contiguous();  // fp32
  clk("gated_norm");
  observe(i, Module::OutProj, normed, E);
  clk("stats");
  at::Tensor out = at::linear(normed.to(dt), w.out_proj, w.out_proj_bias);  // [rows, d]
  clk("out_proj");
  return out;
}

void FusedCalibrator::run(const at::Tensor& ids_in) {
  const ModelConfig& c = model_.config();
  const EngineOptions& o = model_.options();
  c10::DeviceGuard guard(device_);
  make_current(device_);
  batch_ = ids_in.size(0);
  const int64_t rows = ids_in.numel(), d = c.d_model;
  // The residual stream [rows, d] (fp32 when residual_in_fp32), updated in place by the norm
  // kernel, which also adds each block's output and leaves the next block's input in h. When
  // streaming, the embedding stays on the host: its rows are gathered there and copied (a
  // gather is a copy, so the values are the resident path's).
  const at::Tensor& table = model_.embedding();
  at::Tensor ids = ids_in.to(table.device(), at::kLong);
  at::Tensor r = at::embedding(table, ids.reshape({rows})).to(device_);
  if (c.residual_in_fp32) r = r.to(at::kFloat);
  r = r.contiguous();
  at::Tensor h = at::empty({rows, d}, r.options().dtype(o.dtype));
  at::Tensor out;
  StageClock& clk = stage_clock();
  clk.restart();
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const LayerOperands& w = operands(i);
    PointAcc& in = point(i, Module::InProj, d);
    k::NormArgs na;
    na.rows = rows; na.d = d; na.dtype = kernel_dtype(o.dtype);
    na.residual = kernel_dtype(r.scalar_type());
    na.r = r.data_ptr();
    na.out = out.defined() ? out.data_ptr() : nullptr;
    na.weight = w.weights->norm.data_ptr();
    na.eps = c.norm_eps;
    na.h = h.data_ptr();
    na.h_stats = channel_stats_of(in.absmax, in.min, in.max, in.sum, in.sumsq, in.hist);
    k::residual_rmsnorm_cuda(na, nullptr);
    in.rows += rows;
    if (covariance_) {
      at::Tensor hf = h.to(at::kFloat);
      in.cov += at::matmul(hf.t(), hf).to(at::kDouble);
    }
    clk("norm+stats");
    out = (c.is_mamba2() ? mamba2_layer(i, w, h) : mamba1_layer(i, w, h)).contiguous();
    if (streamer_) streamer_->release(i);
  }
  ++batches_run_;
  // The last block's output would only feed norm_f and the LM head: calibration needs neither.
}

std::vector<FusedCalibrator::Accumulator> FusedCalibrator::accumulators() {
  std::vector<Accumulator> all;
  for (auto& [key, p] : points_) {
    all.push_back({key + ".absmax", &p.absmax, Combine::Max});
    all.push_back({key + ".min", &p.min, Combine::Min});
    all.push_back({key + ".max", &p.max, Combine::Max});
    all.push_back({key + ".sum", &p.sum, Combine::Sum});
    all.push_back({key + ".sumsq", &p.sumsq, Combine::Sum});
    all.push_back({key + ".hist", &p.hist, Combine::Sum});
    if (p.cov.defined()) all.push_back({key + ".cov", &p.cov, Combine::Sum});
  }
  for (auto& [key, st] : states_) {
    all.push_back({key + ".absmax", &st.absmax, Combine::Max});
    all.push_back({key + ".sum_abs", &st.sum_abs, Combine::Sum});
  }
  return all;
}

void FusedCalibrator::absorb_counts(FusedCalibrator& other) {
  for (auto& [key, p] : points_) p.rows += other.points_.at(key).rows;
  for (auto& [key, st] : states_) st.count += other.states_.at(key).count;
  other.points_.clear();
  other.states_.clear();
}

void FusedCalibrator::finish(CalibStats& stats) {
  stage_clock().restart();
  for (auto& [key, p] : points_) {
    ActivationStats a;
    a.absmax = p.absmax.cpu();
    a.min = p.min.cpu();
    a.max = p.max.cpu();
    a.count = at::full({p.absmax.size(0)}, p.rows, at::kLong);
    a.sum = p.sum.cpu();
    a.sumsq = p.sumsq.cpu();
    a.hist = p.hist.cpu();
    if (p.cov.defined()) a.cov = p.cov.cpu();
    stats.activations[key].merge(a);
  }
  for (auto& [key, s] : states_) {
    StateStats b;
    b.absmax = s.absmax.cpu();
    b.sum_abs = s.sum_abs.cpu();
    b.count = s.count;
    stats.states[key].merge(b);
  }
  points_.clear();
  states_.clear();
  stage_clock()("finish");
}

}  // namespace ms
