// GGUF export and ggml fake quantization. See gguf_export.h for the mapping and the type rules.
#include "core/export/gguf_export.h"

#include <fstream>
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace ms {

namespace {

// llama.cpp's token types (llama_token_type / gguf.TokenType).
constexpr int32_t kTokenNormal = 1, kTokenControl = 3, kTokenUserDefined = 4, kTokenUnused = 5;

enum class Transform { None, NegExp };

struct Planned {
  std::string name;        // GGUF name
  std::string key;         // canonical source key
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne; // ggml order
  Transform transform = Transform::None;
  bool quantized = false;  // a chosen Linear (its error goes to the report)
};

std::vector<int64_t> reversed(std::vector<int64_t> v) { return {v.rbegin(), v.rend()}; }

std::vector<Planned> plan(const Checkpoint& ck, GgmlType type, const std::vector<Module>& modules) {
  const ModelConfig& c = ck.config;
  if (c.proj_bias)
    throw InputError(ck.dir.string(), "in_proj/out_proj biases have no place in llama.cpp's Mamba "
                                      "graph; this model cannot be exported as GGUF");
  std::set<std::string> chosen;
  for (Module m : modules) chosen.insert(std::string(module_name(m)));
  std::vector<Planned> out;
  const auto shape = [&](const std::string& key) {
    const TensorView* v = ck.tensors.find(key);
    if (!v) throw InputError(ck.dir.string(), "tensor " + key + " is missing");
    return v->shape;
  };
  const auto weight = [&](const std::string& name, const std::string& key, const std::string& module) {
    const std::vector<int64_t> s = shape(key);
    const bool q = chosen.count(module) > 0;
    out.push_back({name, key, gguf_weight_type(type, q, s.back()), reversed(s), Transform::None, q});
  };
  const auto f32 = [&](const std::string& name, const std::string& key, std::vector<int64_t> torch_shape = {},
                       Transform t = Transform::None) {
    if (torch_shape.empty()) torch_shape = shape(key);
    out.push_back({name, key, GgmlType::F32, reversed(torch_shape), t, false});
  };
  weight("token_embd.weight", "embedding.weight", "embedding");
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".", l = "layers." + std::to_string(i) + ".";
    f32(b + "attn_norm.weight", l + "norm.weight");
    weight(b + "ssm_in.weight", l + "in_proj.weight", "in_proj");
    f32(b + "ssm_conv1d.weight", l + "conv1d.weight", {c.conv_dim, c.d_conv});
    if (c.conv_bias) f32(b + "ssm_conv1d.bias", l + "conv1d.bias");
    if (c.is_mamba2()) {
      f32(b + "ssm_dt.bias", l + "dt_bias");
      f32(b + "ssm_a", l + "A_log", {c.n_heads, 1}, Transform::NegExp);
      f32(b + "ssm_d", l + "D", {c.n_heads, 1});
      f32(b + "ssm_norm.weight", l + "gated_norm.weight", {c.n_groups, c.d_inner / c.n_groups});
    } else {
      weight(b + "ssm_x.weight", l + "x_proj.weight", "x_proj");
      weight(b + "ssm_dt.weight", l + "dt_proj.weight", "dt_proj");
      f32(b + "ssm_dt.bias", l + "dt_proj.bias");
      f32(b + "ssm_a", l + "A_log", {}, Transform::NegExp);
      f32(b + "ssm_d", l + "D");
    }
    weight(b + "ssm_out.weight", l + "out_proj.weight", "out_proj");
  }
  f32("output_norm.weight", "norm_f.weight");
  if (!c.tie_embeddings) weight("output.weight", "lm_head.weight", "lm_head");
  return out;
}

using Kv = std::vector<std::pair<std::string, GgufValue>>;

void add_tokenizer(Kv& kv, const std::filesystem::path& file, const ModelConfig& c) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string(), "cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw InputError(file.string(), std::string("not JSON: ") + e.what());
  }
  const nlohmann::json& model = j.value("model", nlohmann::json::object());
  if (model.value("type", "BPE") != "BPE" || !model.contains("vocab") || !model.contains("merges"))
    throw InputError(file.string(), "GGUF export needs a byte-level BPE tokenizer (model.vocab and model.merges)");
  const int64_t V = c.padded_vocab;
  std::vector<std::string> tokens(static_cast<std::size_t>(V));
  std::vector<int32_t> types(std::size_t(V), kTokenUnused);
  std::vector<bool> seen(std::size_t(V), false);
  const auto place = [&](int64_t id, const std::string& text, int32_t type) {
    if (id < 0 || id >= V)
      throw InputError(file.string(), "token id " + std::to_string(id) + " ('" + text +
                                          "') is outside the model's " + std::to_string(V) + " embedding rows");
    tokens[std::size_t(id)] = text;
    types[std::size_t(id)] = type;
    seen[std::size_t(id)] = true;
  };
  for (const auto& [text, id] : model["vocab"].items()) place(id.get<int64_t>(), text, kTokenNormal);
  for (const nlohmann::json& a : j.value("added_tokens", nlohmann::json::array()))
    place(a.at("id").get<int64_t>(), a.at("content").get<std::string>(),
          a.value("special", false) ? kTokenControl : kTokenUserDefined);
  for (int64_t id = 0; id < V; ++id)
    if (!seen[std::size_t(id)]) tokens[std::size_t(id)] = "[PAD" + std::to_string(id) + "]";
  std::vector<std::string> merges;
  for (const nlohmann::json& m : model["merges"])
    merges.push_back(m.is_string() ? m.get<std::string>()
                                   : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
  kv.emplace_back("tokenizer.ggml.model", GgufValue::str("gpt2"));
  // GPT-2's pre-tokenizer regex: what GPT-NeoX-20B-shaped tokenizers (ours, the released Mamba
  // models') use; llama.cpp applies no NFC, which changes nothing for text already in NFC.
  kv.emplace_back("tokenizer.ggml.pre", GgufValue::str("gpt-2"));
  kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(tokens));
  kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32s(types));
  kv.emplace_back("tokenizer.ggml.merges", GgufValue::strings(merges));
  if (c.bos_token_id) kv.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(uint32_t(*c.bos_token_id)));
  if (c.eos_token_id) kv.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(uint32_t(*c.eos_token_id)));
  if (c.pad_token_id)
    kv.emplace_back("tokenizer.ggml.padding_token_id", GgufValue::u32(uint32_t(*c.pad_token_id)));
  // Our tools add no BOS unless asked (CLI-CONTRACT.md); llama.cpp must not either, or the two
  // perplexities would score different token streams.
  kv.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
  kv.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
}

Kv metadata(const Checkpoint& ck, GgmlType type, const std::optional<std::filesystem::path>& tok) {
  const ModelConfig& c = ck.config;
  const std::string arch = c.is_mamba2() ? "mamba2" : "mamba";
  Kv kv;
  kv.emplace_back("general.architecture", GgufValue::str(arch));
  kv.emplace_back("general.name", GgufValue::str(ck.dir.filename().string()));
  // llama_ftype: MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7.
  kv.emplace_back("general.file_type",
                  GgufValue::u32(type == GgmlType::Q8_0 ? 7 : type == GgmlType::Q4_0 ? 2 : 1));
  kv.emplace_back("general.quantization_version", GgufValue::u32(2));
  const auto u = [&](const std::string& k, int64_t v) { kv.emplace_back(arch + "." + k, GgufValue::u32(uint32_t(v))); };
  u("context_length", int64_t(1) << 20);  // a recurrent model has no trained context limit
  u("embedding_length", c.d_model);
  u("feed_forward_length", 0);  // required by llama.cpp's loader, unused by Mamba
  u("attention.head_count", 0);
  u("block_count", c.n_layer);
  u("ssm.conv_kernel", c.d_conv);
  u("ssm.inner_size", c.d_inner);
  u("ssm.state_size", c.d_state);
  u("ssm.time_step_rank", c.is_mamba2() ? c.n_heads : c.dt_rank);
  if (c.is_mamba2()) u("ssm.group_count", c.n_groups);
  kv.emplace_back(arch + ".attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.norm_eps)));
  if (!c.is_mamba2()) kv.emplace_back(arch + ".ssm.dt_b_c_rms", GgufValue::boolean(c.arch == Arch::FalconMamba));
  if (tok) add_tokenizer(kv, *tok, c);
  return kv;
}

std::vector<GgufTensorSpec> specs_of(const std::vector<Planned>& p) {
  std::vector<GgufTensorSpec> s;
  for (const Planned& t : p) s.push_back({t.name, t.type, t.ne});
  return s;
}

// fp32, contiguous, CPU, transformed; [rows, ne0] for the row codec.
at::Tensor source_rows(const Checkpoint& ck, const Planned& p) {
  at::Tensor t = checkpoint_tensor(ck, p.key).to(at::kFloat);
  if (p.transform == Transform::NegExp) t = -at::exp(t);
  return t.reshape({-1, p.ne[0]}).contiguous();
}

std::vector<std::byte> encode(const at::Tensor& rows, GgmlType type) {
  const int64_t n = rows.size(1), r = rows.size(0);
  const std::size_t rs = ggml_row_size(type, n);
  std::vector<std::byte> out(rs * std::size_t(r));
  const float* x = rows.data_ptr<float>();
  for (int64_t k = 0; k < r; ++k) ggml_quantize_row(type, x + k * n, out.data() + std::size_t(k) * rs, n);
  return out;
}

at::Tensor decode(const std::vector<std::byte>& bytes, GgmlType type, int64_t rows, int64_t n) {
  at::Tensor y = at::empty({rows, n}, at::kFloat);
  const std::size_t rs = ggml_row_size(type, n);
  for (int64_t k = 0; k < rows; ++k)
    ggml_dequantize_row(type, bytes.data() + std::size_t(k) * rs, y.data_ptr<float>() + k * n, n);
  return y;
}

}  // namespace

GgmlType parse_gguf_type(const std::string& text) {
  if (text == "f16") return GgmlType::F16;
  if (text == "q8_0") return GgmlType::Q8_0;
  if (text == "q4_0") return GgmlType::Q4_0;
  throw UsageError("--gguf-type '" + text + "' is not one of f16, q8_0, q4_0");
}
const char* gguf_type_flag(GgmlType type) {
  switch (type) {
    case GgmlType::F16: return "f16";
    case GgmlType::Q8_0: return "q8_0";
    case GgmlType::Q4_0: return "q4_0";
    case GgmlType::F32: return "f32";
  }
  return "?";
}

GgmlType gguf_weight_type(GgmlType requested, bool quantized_module, int64_t row_length) {
  if (!quantized_module || requested == GgmlType::F32) return GgmlType::F16;
  return ggml_row_size(requested, row_length) ? requested : GgmlType::F16;
}

at::Tensor ggml_fake_quant(const at::Tensor& w, GgmlType type, const std::string& name) {
  if (w.dim() < 1) throw InputError(name, "needs at least one dimension");
  const int64_t n = w.size(-1);
  if (!ggml_row_size(type, n))
    throw InputError(name, std::string(ggml_type_name(uint32_t(type))) + " needs rows that are a multiple of 32, got " +
                               std::to_string(n));
  at::Tensor rows = w.to(at::kCPU, at::kFloat).reshape({-1, n}).contiguous();
  return decode(encode(rows, type), type, rows.size(0), n).reshape(w.sizes());
}

QuantizedCheckpoint ggml_quantize_checkpoint(const Checkpoint& ck, GgmlType type,
                                             const std::vector<Module>& modules,
                                             std::optional<at::ScalarType> dtype,
                                             const std::function<bool(int64_t, int64_t)>& progress) {
  std::vector<std::string> order;
  for (int64_t i = 0; i < ck.config.n_layer; ++i)
    for (Module m : modules) {
      const std::string key = "layers." + std::to_string(i) + "." + std::string(module_name(m)) + ".weight";
      if (ck.tensors.find(key)) order.push_back(key);
    }
  if (order.empty())
    throw InputError(ck.dir.string(), "none of the chosen modules exists in this " +
                                          std::string(arch_name(ck.config.arch)) + " model");
  const std::set<std::string> targets(order.begin(), order.end());
  QuantizedCheckpoint out;
  std::map<std::string, WeightError> errors;
  int64_t done = 0;
  const int64_t total = int64_t(ck.tensors.tensors().size());
  for (const auto& [key, view] : ck.tensors.tensors()) {
    if (key == "lm_head.weight" && ck.config.tie_embeddings) continue;  // as rtn_quantize_checkpoint
    at::Tensor t = checkpoint_tensor(ck, key);
    const at::ScalarType to = dtype.value_or(t.scalar_type());
    if (targets.count(key)) {
      const GgmlType used = gguf_weight_type(type, true, t.size(-1));
      at::Tensor stored = ggml_fake_quant(t, used, key).to(to);
      errors[key] = weight_error(key, t, stored);
      out.tensors.emplace_back(key, stored);
    } else {
      out.tensors.emplace_back(key, t.to(to));
    }
    if (progress && !progress(++done, total)) throw Cancelled();
  }
  for (const std::string& k : order) out.errors.push_back(errors.at(k));
  return out;
}

uint64_t gguf_export_size(const Checkpoint& ck, GgmlType type, const std::vector<Module>& modules,
                          const std::optional<std::filesystem::path>& tok) {
  return gguf_file_size(metadata(ck, type, tok), specs_of(plan(ck, type, modules)));
}

GgufExportResult export_gguf(const Checkpoint& ck, const std::filesystem::path& file, GgmlType type,
                             const std::vector<Module>& modules,
                             const std::optional<std::filesystem::path>& tok,
                             const std::function<bool(int64_t, int64_t)>& progress) {
  const std::vector<Planned> p = plan(ck, type, modules);
  const Kv kv = metadata(ck, type, tok);
  const std::vector<GgufTensorSpec> specs = specs_of(p);
  GgufExportResult result;
  std::map<std::string, WeightError> errors;
  write_gguf(file, kv, specs, [&](std::size_t k) {
    const at::Tensor rows = source_rows(ck, p[k]);
    std::vector<std::byte> bytes = encode(rows, p[k].type);
    if (p[k].quantized) {
      // The error of what llama.cpp will multiply by: the stored bytes, decoded.
      const at::Tensor back = decode(bytes, p[k].type, rows.size(0), rows.size(1));
      errors[p[k].key] = weight_error(p[k].key, rows, back);
      errors[p[k].key].shape = reversed(p[k].ne);
    }
    if (progress && !progress(int64_t(k) + 1, int64_t(p.size()))) throw Cancelled();
    return bytes;
  });
  // Forward order, as the other exports report.
  for (const Planned& t : p) {
    result.tensor_types.push_back({t.name, t.key, ggml_type_name(uint32_t(t.type))});
    if (t.quantized) result.errors.push_back(errors.at(t.key));
  }
  result.bytes = std::filesystem::file_size(file);
  return result;
}

}  // namespace ms
