#include "core/engine/fake_quant.h"

#include <ATen/ATen.h>

#include "core/engine/calib_stats.h"
#include "core/quant/hadamard.h"
#include "core/util/error.h"

namespace ms {

StaticActAbsmax StaticActAbsmax::of(const CalibStats& stats) {
  StaticActAbsmax s;
  for (const auto& [key, a] : stats.activations)
    if (a.absmax.defined() && a.absmax.numel() > 0) s.absmax[key] = a.absmax.max().item<double>();
  return s;
}

PointFakeQuant::PointFakeQuant(ActQuantSpec act, StateQuantSpec state, std::set<QuantPoint> points,
                               const CalibStats* stats)
    : PointFakeQuant(act, state, std::move(points),
                     stats ? StaticActAbsmax::of(*stats) : StaticActAbsmax{}) {}

PointFakeQuant::PointFakeQuant(ActQuantSpec act, StateQuantSpec state, std::set<QuantPoint> points,
                               const StaticActAbsmax& scales)
    : act_(act), state_(state), static_after_runtime_(scales.after_runtime_transforms) {
  act_.validate();
  state_.validate();
  for (const QuantPoint& p : points) {
    if (p.site == Site::Input && act_.enabled()) {
      if (act_.scale == ActScale::Static) {
        auto it = scales.absmax.find(p.str());
        if (it == scales.absmax.end())
          throw InputError(p.str(), scales.absmax.empty()
                                        ? "static activation scales need calibration statistics"
                                        : "the static activation scales have no absmax for this point");
        static_absmax_[p] = it->second;
      }
      points_.insert(p);
    } else if (p.site == Site::State && state_.enabled()) {
      points_.insert(p);
    }
  }
}

at::Tensor FakeQuant::gate(int, const at::Tensor& z) const { return at::silu(z); }

std::optional<StateQuantSpec> FakeQuant::state_spec(const QuantPoint&) const { return std::nullopt; }

void PointFakeQuant::set_runtime_transforms(const std::vector<RuntimeTransform>& runtime) {
  for (const RuntimeTransform& t : runtime) {
    const std::optional<QuantPoint> p = QuantPoint::parse(t.point);
    if (!p || p->site != Site::Input)
      throw UsageError("run-time transform '" + t.kind + "' at '" + t.point + "': not a Linear input");
    // Both parts change what out_proj's input holds: static scales must have been measured after them.
    if (!static_absmax_.empty() && !static_after_runtime_)
      throw UsageError("static activation scales with the run-time transform '" + t.kind + "' at '" + t.point +
                       "': the scales were measured without it; measure them on the transformed model "
                       "(core/cli/static_scales.h) or use --act-scale dynamic");
    if (t.kind == "s_silu") {
      if (p->module != Module::OutProj || !t.param.defined() || t.param.dim() != 1)
        throw UsageError("run-time transform s_silu at '" + t.point + "': needs out_proj's input and s [E]");
      gate_scales_[p->layer] = t.param.to(at::kCPU, at::kFloat);
    } else if (t.kind == "online_hadamard") {
      rotated_.insert(*p);
    } else {
      throw UsageError("unknown run-time transform '" + t.kind + "' at '" + t.point + "'");
    }
  }
}

at::Tensor PointFakeQuant::gate(int layer, const at::Tensor& z) const {
  auto it = gate_scales_.find(layer);
  if (it == gate_scales_.end()) return at::silu(z);
  return s_silu(z, it->second.to(z.device()));
}

bool PointFakeQuant::quantizes(const QuantPoint& point) const {
  return points_.count(point) > 0 || rotated_.count(point) > 0;
}

bool PointFakeQuant::empty() const { return points_.empty(); }

at::Tensor PointFakeQuant::quantize_activation(const QuantPoint& point, const at::Tensor& x_in) const {
  const at::Tensor x = rotated_.count(point) ? hadamard_rotate(x_in) : x_in;
  if (!points_.count(point)) return x;
  auto it = static_absmax_.find(point);
  const double absmax = it == static_absmax_.end() ? 0.0 : it->second;
  return act_fake_quant(x, act_, absmax).to(x.scalar_type());
}

at::Tensor PointFakeQuant::quantize_state(const QuantPoint&, const at::Tensor& state) const {
  return state_fake_quant(state, state_);
}

// quantize_state above is state_fake_quant(state_) at every point it quantizes.
std::optional<StateQuantSpec> PointFakeQuant::state_spec(const QuantPoint& point) const {
  if (point.site != Site::State || !points_.count(point)) return std::nullopt;
  return state_;
}

}  // namespace ms
