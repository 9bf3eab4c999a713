#include "core/engine/state_sequence.h"

#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/engine/fake_quant.h"
#include "core/engine/mamba_model.h"
#include "core/engine/observer.h"
#include "core/util/error.h"

namespace ms {
namespace {

// Keeps one point's value ([1, T, E, N] | [1, T, H, P, N]) as a CPU fp32 copy.
class StateCapture : public Observer {
 public:
  explicit StateCapture(QuantPoint point) : point_(point) {}
  bool wants(const QuantPoint& p) const override { return p == point_; }
  void collect(const QuantPoint&, const at::Tensor& value) override { value_ = value.to(at::kCPU, at::kFloat).clone(); }
  at::Tensor value_;

 private:
  QuantPoint point_;
};

// PointFakeQuant that also keeps each token's h_t before it is quantized. state_spec() is
// nullopt so that every scan (the CUDA one too) calls quantize_state once per token, in order;
// on the CPU that is the path eval takes anyway.
class RecordingStateQuant : public PointFakeQuant {
 public:
  RecordingStateQuant(const StateQuantSpec& spec, const QuantPoint& point)
      : PointFakeQuant(ActQuantSpec{}, spec, {point}) {}
  at::Tensor quantize_state(const QuantPoint& p, const at::Tensor& h) const override {
    before_.push_back(h.to(at::kCPU, at::kFloat).clone());
    return PointFakeQuant::quantize_state(p, h);
  }
  std::optional<StateQuantSpec> state_spec(const QuantPoint&) const override { return std::nullopt; }
  mutable std::vector<at::Tensor> before_;  // per token: [1, E, N] | [1, H, P, N]
};

}  // namespace

StateSequence state_sequence(const MambaModel& model, const at::Tensor& ids, int64_t layer,
                             const StateQuantSpec& spec) {
  spec.validate();
  if (ids.dim() != 2 || ids.size(0) != 1 || ids.size(1) < 1)
    throw UsageError("state_sequence: ids must be one sequence [1, T]");
  if (layer < 0 || layer >= model.config().n_layer)
    throw UsageError("--layer: the model has " + std::to_string(model.config().n_layer) + " layers (0.." +
                     std::to_string(model.config().n_layer - 1) + "), not " + std::to_string(layer));
  const QuantPoint point{static_cast<int>(layer), Module::Ssm, Site::State};

  StateCapture float_cap(point);
  model.forward(ids, nullptr, &float_cap, nullptr);
  StateCapture quant_cap(point);
  RecordingStateQuant fq(spec, point);
  model.forward(ids, nullptr, &quant_cap, &fq);
  if (!float_cap.value_.defined() || !quant_cap.value_.defined())
    throw UsageError("'" + point.str() + "' is not a point of this model");

  const at::Tensor f = float_cap.value_[0];  // [T, E, N] | [T, H, P, N]
  const int64_t T = f.size(0), N = f.size(-1);
  StateSequence out;
  out.heads = f.dim() == 4 ? f.size(1) : 1;
  // Unquantized (H16): the quantized run is the float one, and so is its h_t.
  const at::Tensor h = fq.before_.empty() ? f : at::cat(fq.before_, 0);
  if (h.size(0) != T) throw UsageError("state_sequence: the scan quantized " + std::to_string(h.size(0)) +
                                       " states for " + std::to_string(T) + " tokens");
  const StateScales sc = state_scales(h, spec);  // [T, .., R, 1], [T, .., 1, N]
  out.float_states = f.reshape({T, -1, N}).contiguous();
  out.quant_states = quant_cap.value_[0].reshape({T, -1, N}).contiguous();
  out.channel_scales = sc.channel.reshape({T, -1}).contiguous();
  out.state_scales = sc.state.reshape({T, out.heads, N}).contiguous();
  return out;
}

}  // namespace ms
