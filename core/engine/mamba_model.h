// The Mamba-1 / falcon_mamba / Mamba-2 forward in LibTorch, fp32 or bf16, CPU or CUDA, with every
// quant point observable. One code path serves whole sequences and recurrent decoding: forward()
// takes an optional RecurrentState, starts from it and leaves the final state in it, so a prompt
// prefill and each generated token run the same arithmetic. Symbols: core/model/glossary.h.
//
// Numerics follow HF transformers' reference (non-kernel) path: RMSNorm in fp32 then cast, the
// selective scan in fp32 (sequential: it is the reference, see scan_ref.h), dt bias added in fp32
// before softplus (threshold 20), residual in fp32 when residual_in_fp32.
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "core/model/checkpoint.h"
#include "core/model/quant_point.h"

namespace ms {

class FakeQuant;
class Observer;
class WeightSource;
struct WeightSet;

struct EngineOptions {
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::kFloat;  // compute dtype of Linears and norms (fp32 or bf16)
  GatedNorm gated_norm = GatedNorm::PerGroup;
};

// Per-layer weights on the engine's device. Linear weights in the compute dtype; A (= -exp(A_log)),
// D, dt biases in fp32 (the scan runs in fp32).
struct LayerWeights {
  at::Tensor norm;                  // [d]
  at::Tensor in_proj, in_proj_bias; // [2E, d] | [2E+2GN+H, d]; bias may be undefined
  at::Tensor conv, conv_bias;       // [C, K]; bias may be undefined
  at::Tensor x_proj;                // Mamba-1: [R+2N, E]
  at::Tensor dt_proj, dt_proj_bias; // Mamba-1: [E, R], [E] fp32
  at::Tensor A;                     // Mamba-1 [E, N] | Mamba-2 [H], fp32
  at::Tensor D;                     // [E] | [H], fp32
  at::Tensor dt_bias;               // Mamba-2: [H] fp32
  at::Tensor gated_norm;            // Mamba-2: [E]
  at::Tensor out_proj, out_proj_bias;  // [d, E]
};

// The recurrent state of a batch: per layer, the last K-1 conv inputs and the SSM state (fp32).
struct RecurrentState {
  std::vector<at::Tensor> conv;  // [B, K-1, C]
  std::vector<at::Tensor> ssm;   // Mamba-1 [B, E, N]; Mamba-2 [B, H, P, N]
  int64_t tokens_seen = 0;
};

class MambaModel {
 public:
  // Copies (and converts) the checkpoint's tensors to the device. Throws InputError on anything
  // the checkpoint lacks (open_checkpoint has already checked shapes).
  static std::unique_ptr<MambaModel> load(const Checkpoint& checkpoint, const EngineOptions& options);
  // The same from tensors in memory (a transformed or quantized model); the config is the set's.
  static std::unique_ptr<MambaModel> load(const WeightSet& weights, const EngineOptions& options);

  const ModelConfig& config() const { return config_; }
  const EngineOptions& options() const { return options_; }

  // ids [B, T] (int64, any device) -> logits [B, T, V] float32 on the engine's device.
  // With `state`, the sequence continues from it and the state is updated; without, it starts
  // from zero. `observer` may be null. `fake_quant` (fake_quant.h; may be null) quantizes the
  // Linear inputs and the SSM state it chooses; the observer then sees the quantized values.
  at::Tensor forward(const at::Tensor& ids, RecurrentState* state = nullptr,
                     Observer* observer = nullptr, const FakeQuant* fake_quant = nullptr) const;

  RecurrentState initial_state(int64_t batch) const;

  // The weight tensor of a weight quant point (`layers.3.in_proj.weight`), as loaded.
  const at::Tensor& weight(const QuantPoint& point) const;
  const LayerWeights& layer(int64_t i) const { return layers_.at(static_cast<size_t>(i)); }
  const at::Tensor& embedding() const { return embedding_; }  // [V, d] compute dtype

 private:
  MambaModel(ModelConfig config, EngineOptions options) : config_(config), options_(options) {}
  static std::unique_ptr<MambaModel> load_from(const ModelConfig& config, const WeightSource& source,
                                               const EngineOptions& options);
  at::Tensor mamba1_block(int64_t i, const at::Tensor& h, RecurrentState* st, Observer* obs,
                          const FakeQuant* fq) const;
  at::Tensor mamba2_block(int64_t i, const at::Tensor& h, RecurrentState* st, Observer* obs,
                          const FakeQuant* fq) const;

  ModelConfig config_;
  EngineOptions options_;
  at::Tensor embedding_;  // [V, d] compute dtype
  at::Tensor norm_f_;     // [d]
  at::Tensor lm_head_;    // [V, d]; the embedding when tied
  std::vector<LayerWeights> layers_;
};

}  // namespace ms
