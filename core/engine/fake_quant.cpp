#include "core/engine/fake_quant.h"

#include <ATen/ATen.h>

#include "core/engine/calib_stats.h"
#include "core/util/error.h"

namespace ms {

PointFakeQuant::PointFakeQuant(ActQuantSpec act, StateQuantSpec state, std::set<QuantPoint> points,
                               const CalibStats* stats)
    : act_(act), state_(state) {
  act_.validate();
  state_.validate();
  for (const QuantPoint& p : points) {
    if (p.site == Site::Input && act_.enabled()) {
      points_.insert(p);
      if (act_.scale == ActScale::Static) {
        const std::string key = p.str();
        if (!stats) throw InputError(key, "static activation scales need calibration statistics");
        auto it = stats->activations.find(key);
        if (it == stats->activations.end() || !it->second.absmax.defined())
          throw InputError(key, "the calibration statistics have no absmax for this point");
        static_absmax_[p] = it->second.absmax.max().item<double>();
      }
    } else if (p.site == Site::State && state_.enabled()) {
      points_.insert(p);
    }
  }
}

bool PointFakeQuant::quantizes(const QuantPoint& point) const { return points_.count(point) > 0; }

bool PointFakeQuant::empty() const { return points_.empty(); }

at::Tensor PointFakeQuant::quantize_activation(const QuantPoint& point, const at::Tensor& x) const {
  auto it = static_absmax_.find(point);
  const double absmax = it == static_absmax_.end() ? 0.0 : it->second;
  return act_fake_quant(x, act_, absmax).to(x.scalar_type());
}

at::Tensor PointFakeQuant::quantize_state(const QuantPoint&, const at::Tensor& state) const {
  return state_fake_quant(state, state_);
}

}  // namespace ms
