// The model configuration: parsed from `config.json` in either layout (HF transformers or the
// original state-spaces one), every derived field computed in one place (derive()), and checked
// (validate()). Symbols: core/model/glossary.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace ms {

enum class Arch { Mamba1, FalconMamba, Mamba2 };
enum class Layout { HF, StateSpaces };
// Mamba-2 with G > 1: normalise each group of E/G channels (original implementation, llama.cpp) or
// all E at once (HF transformers 5.x).
enum class GatedNorm { PerGroup, Full };

std::string_view arch_name(Arch arch);      // "mamba", "falcon_mamba", "mamba2"
std::string_view layout_name(Layout layout);  // "hf", "state-spaces"

struct ModelConfig {
  Arch arch = Arch::Mamba1;
  Layout layout = Layout::HF;
  int64_t d_model = 0;     // d
  int64_t n_layer = 0;     // L
  int64_t vocab_size = 0;  // as written in config.json
  int64_t pad_vocab_size_multiple = 1;
  int64_t d_state = 16;    // N
  int64_t d_conv = 4;      // K
  int64_t expand = 2;
  int64_t dt_rank = 0;     // R (Mamba-1); 0 in the file means "auto"
  int64_t head_dim = 64;   // P (Mamba-2)
  int64_t n_groups = 1;    // G (Mamba-2)
  int64_t n_heads = 0;     // H (Mamba-2); 0 in the file means E / P
  double norm_eps = 1e-5;        // block and final RMSNorm
  double mixer_rms_eps = 1e-6;   // falcon_mamba's weightless norms on B, C and dt
  double dt_limit_min = 0.0;     // Mamba-2 dt clamp (HF time_step_limit, state-spaces dt_limit)
  double dt_limit_max = 0.0;     // +inf when unbounded (derive() sets it)
  bool proj_bias = false;        // in_proj / out_proj bias (use_bias / ssm_cfg.bias)
  bool conv_bias = true;
  bool tie_embeddings = true;
  bool residual_in_fp32 = true;
  std::optional<int64_t> bos_token_id, eos_token_id, pad_token_id;

  // Derived (derive()):
  int64_t d_inner = 0;       // E = expand * d (or intermediate_size when given)
  int64_t padded_vocab = 0;  // V: vocab_size rounded up to pad_vocab_size_multiple
  int64_t conv_dim = 0;      // channels through the conv: E (Mamba-1), E + 2GN (Mamba-2)
  int64_t in_proj_rows = 0;  // 2E (Mamba-1), 2E + 2GN + H (Mamba-2)

  // Reads config.json (either layout, detected from its keys). Throws InputError naming the file:
  // not JSON, a missing or negative size, an unknown or unsupported model type (hybrids, attention
  // layers, d_intermediate > 0, rms_norm = false), with the unsupported feature named.
  static ModelConfig from_file(const std::filesystem::path& config_json);
  static ModelConfig from_json_text(const std::string& text, const std::string& source);

  void derive();                                       // fills the derived fields
  void validate(const std::string& source) const;      // throws InputError on inconsistent sizes

  bool is_mamba2() const { return arch == Arch::Mamba2; }
  int64_t x_proj_rows() const { return dt_rank + 2 * d_state; }  // Mamba-1
  int64_t parameter_count() const;  // from shapes, tied lm_head counted once

  // Serialise as an HF config.json (what init-random and exporters write).
  std::string to_hf_json() const;
  // Serialise as an original state-spaces config.json.
  std::string to_state_spaces_json() const;
};

}  // namespace ms
