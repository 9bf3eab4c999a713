// One bit-width setting of the live error preview (issue 6: the Quantization dock's sliders, the
// `requant-serve` protocol, `bench requant`): global W, A and H bits, per-layer overrides of each,
// the weight granularity and symmetry, the state method and the activation scale. A setting maps
// to the specs the quantizers already take (RtnSpec, ActQuantSpec, StateQuantSpec) layer by layer.
//
// Bits: the quantizers round to 2..15; 16 means "stay float" (the contract's default for A and H,
// and here for W too).
//
// JSON (one line of the serve protocol), every field optional, defaults as below:
//   {"id": 7, "wbits": 4, "abits": 16, "hbits": 8, "granularity": "channel" | "tensor" | "group:64",
//    "symmetric": true, "state_method": "dsq", "dsq_variant": "abs.mean.sqrt",
//    "act_scale": "dynamic", "act_granularity": "token", "token_detail": true,
//    "layers": {"3": {"wbits": 8, "abits": 16, "hbits": 4}}}
// Not here: running anything (core/engine/requant.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/quant/act_quant.h"
#include "core/quant/dsq.h"
#include "core/quant/rtn.h"

namespace ms {

// A layer's overrides; 0 keeps the global value.
struct LayerBits {
  int wbits = 0, abits = 0, hbits = 0;
  bool operator==(const LayerBits& o) const { return wbits == o.wbits && abits == o.abits && hbits == o.hbits; }
};

struct RequantSetting {
  int64_t id = 0;  // the caller's request id, echoed in the result
  int wbits = 16, abits = 16, hbits = 16;
  std::string granularity = "channel";  // weights: tensor | channel | group:G
  bool symmetric = true;                // weights
  StateMethod state_method = StateMethod::Dsq;
  DsqVariant dsq_variant = DsqVariant::AbsMeanSqrt;
  ActScale act_scale = ActScale::Dynamic;
  ActGranularity act_granularity = ActGranularity::Token;
  bool token_detail = true;  // per-token, per-point errors in the result (the click-a-token view)
  std::map<int, LayerBits> layers;

  // Throws UsageError naming the field: bits outside 2..16, a layer outside 0..n_layer-1,
  // static per-token activation scales, a bad granularity.
  void validate(int n_layer) const;

  // The effective specs of layer `layer`; nullopt weights when they stay float.
  std::optional<RtnSpec> weight_spec(int layer) const;
  ActQuantSpec act_spec(int layer) const;
  StateQuantSpec state_spec(int layer) const;

  nlohmann::json to_json() const;
  // `where` prefixes errors (InputError): "request line 3".
  static RequantSetting from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace ms
