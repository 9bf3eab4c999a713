// Quant points: the named places where MambaScope observes and quantizes, one vocabulary
// everywhere (METHODS.md): `layers.{i}.{module}.{site}`, e.g. `layers.3.out_proj.input`,
// `layers.3.ssm.state`, `layers.0.in_proj.weight`. A typed id with one canonical text, and one
// table mapping each weight point to its HF key, state-spaces key and GGUF name.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/config.h"

namespace ms {

enum class Module { InProj, Conv1d, XProj, DtProj, OutProj, Ssm };
enum class Site { Input, Weight, State };

struct QuantPoint {
  int layer = 0;
  Module module = Module::InProj;
  Site site = Site::Input;

  std::string str() const;  // canonical text
  // Parses canonical text; nullopt for anything else (no partial matches, no leading zeros).
  static std::optional<QuantPoint> parse(std::string_view text);
  bool operator==(const QuantPoint&) const = default;
  auto operator<=>(const QuantPoint&) const = default;
};

std::string_view module_name(Module module);  // "in_proj", "conv1d", ..., "ssm"
std::string_view site_name(Site site);        // "input", "weight", "state"

// Every quant point the architecture has, in forward order per layer: activation inputs, the
// state, and each Linear's weight.
std::vector<QuantPoint> quant_points(const ModelConfig& config);
// The activation/state points only (what observers see during a forward).
std::vector<QuantPoint> activation_points(const ModelConfig& config);

// Tensor names of a weight point: our canonical key (`layers.3.in_proj.weight`), the HF key
// (`backbone.layers.3.mixer.in_proj.weight`), the state-spaces key, and the GGUF name
// (`blk.3.ssm_in.weight`). nullopt for non-weight points.
struct WeightKeys {
  std::string canonical, hf, state_spaces, gguf;
};
std::optional<WeightKeys> weight_keys(const QuantPoint& point);

}  // namespace ms
