// Packing codes, and reading a packed export back. See packed.h for the layout.
#include "core/export/packed.h"

#include <algorithm>
#include <fstream>
#include <map>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"
#include "core/model/checkpoint.h"
#include "core/model/config.h"
#include "core/util/error.h"

namespace ms {

namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

int64_t code_min(int bits, bool symmetric) { return symmetric ? -(int64_t(1) << (bits - 1)) : 0; }
int64_t code_max(int bits, bool symmetric) {
  return symmetric ? (int64_t(1) << (bits - 1)) - 1 : (int64_t(1) << bits) - 1;
}

at::ScalarType to_scalar(DType d, const std::string& where) {
  switch (d) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I32: return at::kInt;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::I64: return at::kLong;
    default: throw InputError(where, "unexpected dtype " + std::string(dtype_name(d)));
  }
}

at::Tensor tensor_of(const TensorView& v) {
  return at::from_blob(const_cast<std::byte*>(v.data), v.shape,
                       at::TensorOptions().dtype(to_scalar(v.dtype, v.name)))
      .clone();
}

}  // namespace

void check_packed_bits(int bits) {
  if (bits < 2 || bits > 8)
    throw UsageError("--format packed stores 2..8-bit codes, not --wbits " + std::to_string(bits) +
                     ": use --format hf (any width 2..15, stored dequantized)");
}

void PackedLinear::validate(const std::string& name) const {
  if (bits < 2 || bits > 8) throw InputError(name, "bits must be 2..8, got " + std::to_string(bits));
  if (!codes.defined() || codes.dim() != 2) throw InputError(name, "codes must be [out, in]");
  const int64_t out = codes.size(0), in = codes.size(1);
  if (codes.scalar_type() != (symmetric ? at::kChar : at::kByte))
    throw InputError(name, std::string("codes must be ") + (symmetric ? "int8" : "uint8"));
  if (!scales.defined() || scales.dim() != 2 || scales.size(0) != out || scales.size(1) < 1)
    throw InputError(name, "scales " + (scales.defined() ? shape_of(scales) : "(none)") +
                               " must be [" + std::to_string(out) + ", groups]");
  const int64_t groups = scales.size(1);
  if (symmetric == zeros.defined())
    throw InputError(name, symmetric ? "symmetric codes carry no zeros" : "asymmetric codes need zeros");
  if (zeros.defined() && zeros.sizes() != scales.sizes())
    throw InputError(name, "zeros " + shape_of(zeros) + " must match scales " + shape_of(scales));
  if (g_idx.defined()) {
    if (g_idx.dim() != 1 || g_idx.size(0) != in)
      throw InputError(name, "g_idx " + shape_of(g_idx) + " must be [" + std::to_string(in) + "]");
    if (in && (g_idx.min().item<int64_t>() < 0 || g_idx.max().item<int64_t>() >= groups))
      throw InputError(name, "g_idx names a group outside 0.." + std::to_string(groups - 1));
  } else if (in % groups != 0) {
    throw InputError(name, std::to_string(groups) + " groups do not divide " + std::to_string(in) + " columns");
  }
  if (codes.numel()) {
    const int64_t lo = codes.min().item<int64_t>(), hi = codes.max().item<int64_t>();
    if (lo < code_min(bits, symmetric) || hi > code_max(bits, symmetric))
      throw InputError(name, "codes span " + std::to_string(lo) + ".." + std::to_string(hi) +
                                 ", outside the " + std::to_string(bits) + "-bit range");
  }
}

at::Tensor pack_codes(const at::Tensor& codes, int bits, bool symmetric) {
  at::Tensor c = codes.to(at::kCPU).contiguous();
  if (bits > 4) return c.to(symmetric ? at::kChar : at::kByte);
  const int64_t out = c.size(0), in = c.size(1);
  // Two's complement nibbles for signed codes: q & 0xF.
  at::Tensor u = c.to(at::kShort).bitwise_and(0xF);
  if (in % 2) u = at::cat({u, at::zeros({out, 1}, u.options())}, 1);
  at::Tensor pairs = u.reshape({out, u.size(1) / 2, 2});
  at::Tensor lo = pairs.select(2, 0), hi = pairs.select(2, 1);
  return lo.bitwise_or(hi.bitwise_left_shift(4)).to(at::kByte).contiguous();
}

at::Tensor unpack_codes(const at::Tensor& qweight, int bits, bool symmetric, int64_t in) {
  at::Tensor q = qweight.to(at::kCPU).contiguous();
  if (bits > 4) return q.to(symmetric ? at::kChar : at::kByte);
  const int64_t out = q.size(0);
  at::Tensor w = q.to(at::kShort);
  at::Tensor lo = w.bitwise_and(0xF), hi = w.bitwise_right_shift(4).bitwise_and(0xF);
  at::Tensor u = at::stack({lo, hi}, 2).reshape({out, q.size(1) * 2}).narrow(1, 0, in);
  if (!symmetric) return u.to(at::kByte).contiguous();
  return at::where(u >= 8, u - 16, u).to(at::kChar).contiguous();  // sign-extend the nibble
}

at::Tensor packed_dequantize(const PackedLinear& p) {
  const int64_t out = p.codes.size(0), in = p.codes.size(1), groups = p.scales.size(1);
  at::Tensor q = p.codes.to(at::kFloat);
  at::Tensor s = p.scales.to(at::kFloat), z = p.zeros.defined() ? p.zeros.to(at::kFloat) : at::Tensor();
  if (p.g_idx.defined()) {
    // Per-column scales gathered through the act-order group index.
    const at::Tensor idx = p.g_idx.to(at::kLong);
    s = s.index_select(1, idx);
    if (z.defined()) z = z.index_select(1, idx);
    return p.symmetric ? q * s : (q - z) * s;
  }
  // The same elementwise ops as rtn_dequantize, so the values agree bit for bit.
  const int64_t g = in / groups;
  at::Tensor qg = q.reshape({out, groups, g});
  at::Tensor v = p.symmetric ? qg * s.unsqueeze(-1) : (qg - z.unsqueeze(-1)) * s.unsqueeze(-1);
  return v.reshape({out, in});
}

std::vector<std::pair<std::string, at::Tensor>> packed_tensors(const std::string& hf_weight_key,
                                                               const PackedLinear& p) {
  p.validate(hf_weight_key);
  const std::string stem = hf_weight_key.substr(0, hf_weight_key.size() - std::string("weight").size());
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back(stem + "qweight", pack_codes(p.codes, p.bits, p.symmetric));
  out.emplace_back(stem + "scales", p.scales.to(at::kCPU, at::kFloat).contiguous());
  if (p.zeros.defined()) out.emplace_back(stem + "zeros", p.zeros.to(at::kCPU, at::kInt).contiguous());
  if (p.g_idx.defined()) out.emplace_back(stem + "g_idx", p.g_idx.to(at::kCPU, at::kInt).contiguous());
  return out;
}

std::vector<WeightError> write_packed_checkpoint(const Checkpoint& ck, const RtnSpec& spec,
                                                 const std::vector<Module>& modules,
                                                 std::optional<at::ScalarType> dtype,
                                                 const std::filesystem::path& dir,
                                                 const std::function<bool(int64_t, int64_t)>& progress,
                                                 const std::map<std::string, PackedLinear>* precomputed) {
  spec.validate();
  check_packed_bits(spec.bits);
  std::vector<std::string> order;
  for (int64_t i = 0; i < ck.config.n_layer; ++i)
    for (Module m : modules) {
      const std::string key = "layers." + std::to_string(i) + "." + std::string(module_name(m)) + ".weight";
      if (ck.tensors.find(key)) order.push_back(key);
    }
  if (order.empty())
    throw InputError(ck.dir.string(), "none of the chosen modules exists in this " +
                                          std::string(arch_name(ck.config.arch)) + " model");
  std::map<std::string, WeightError> errors;
  // Owned here until the file is written: TensorToWrite points into them.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  int64_t done = 0;
  const int64_t total = int64_t(ck.tensors.tensors().size());
  for (const auto& [key, view] : ck.tensors.tensors()) {
    if (key == "lm_head.weight" && ck.config.tie_embeddings) continue;  // as the HF export
    at::Tensor t = checkpoint_tensor(ck, key);
    const std::string hf = file_key(key, Layout::HF);
    if (std::find(order.begin(), order.end(), key) != order.end()) {
      PackedLinear p;
      if (precomputed) {
        const auto it = precomputed->find(key);
        if (it == precomputed->end()) throw InputError(key, "no codes were computed for this weight");
        p = it->second;
      } else {
        const RtnParams params = rtn_fit(t, spec, key);
        p.bits = spec.bits;
        p.symmetric = spec.symmetric;
        p.codes = rtn_quantize(t, params);
        p.scales = params.scales;
        if (!spec.symmetric) p.zeros = params.zeros;
      }
      for (auto& kt : packed_tensors(hf, p)) tensors.push_back(std::move(kt));
      errors[key] = weight_error(key, t, packed_dequantize(p));
    } else {
      tensors.emplace_back(hf, t.to(dtype.value_or(t.scalar_type())).contiguous());
    }
    if (progress && !progress(++done, total)) throw Cancelled();
  }
  std::vector<TensorToWrite> files;
  for (auto& [name, t] : tensors) {
    DType d;
    switch (t.scalar_type()) {
      case at::kFloat: d = DType::F32; break;
      case at::kHalf: d = DType::F16; break;
      case at::kBFloat16: d = DType::BF16; break;
      case at::kInt: d = DType::I32; break;
      case at::kChar: d = DType::I8; break;
      case at::kByte: d = DType::U8; break;
      default: throw InputError(name, "cannot be stored in a packed export");
    }
    files.push_back({name, d, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(), t.nbytes()});
  }
  write_safetensors(dir / "model.safetensors", files, {{"format", "pt"}, {"mambascope", "packed"}});
  std::vector<WeightError> out;
  for (const std::string& k : order) out.push_back(errors.at(k));
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> read_packed_dequantized(const std::filesystem::path& dir) {
  const std::filesystem::path scheme_file = dir / "mambascope.json";
  std::ifstream in(scheme_file);
  if (!in) throw InputError(scheme_file.string(), "missing: not a packed export");
  nlohmann::json scheme;
  try {
    scheme = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw InputError(scheme_file.string(), std::string("not JSON: ") + e.what());
  }
  if (scheme.value("format", "") != "packed" || !scheme.contains("packing"))
    throw InputError(scheme_file.string(), "not a packed export (format is not \"packed\")");
  const nlohmann::json& pk = scheme["packing"];
  int bits = 0;
  bool symmetric = true;
  std::vector<std::string> modules;
  try {
    bits = pk.at("bits").get<int>();
    symmetric = pk.at("symmetric").get<bool>();
    modules = pk.at("modules").get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw InputError(scheme_file.string(), std::string("packing: ") + e.what());
  }
  if (bits < 2 || bits > 8) throw InputError(scheme_file.string(), "packing.bits must be 2..8");

  ModelConfig config = ModelConfig::from_file(dir / "config.json");
  const std::filesystem::path weights = dir / "model.safetensors";
  TensorStore store;
  read_safetensors(weights, store);
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const ExpectedTensor& e : expected_tensors(config)) {
    const std::string hf = file_key(e.key, Layout::HF);
    bool packed = false;
    for (const std::string& m : modules)
      if (e.key.size() > m.size() + 8 && e.key.ends_with("." + m + ".weight")) packed = true;
    if (!packed) {
      const TensorView* v = store.find(hf);
      if (!v) {
        if (e.optional) continue;
        throw InputError(weights.string(), "tensor " + hf + " is missing");
      }
      out.emplace_back(e.key, tensor_of(*v));
      continue;
    }
    const std::string stem = hf.substr(0, hf.size() - 6);
    const auto need = [&](const std::string& name) -> const TensorView& {
      const TensorView* v = store.find(stem + name);
      if (!v) throw InputError(weights.string(), "packed tensor " + stem + name + " is missing");
      return *v;
    };
    PackedLinear p;
    p.bits = bits;
    p.symmetric = symmetric;
    const TensorView& qw = need("qweight");
    const int64_t rows = e.shape.at(0), cols = e.shape.at(1);
    const std::vector<int64_t> want{rows, bits > 4 ? cols : (cols + 1) / 2};
    if (qw.shape != want || qw.dtype != (bits > 4 && symmetric ? DType::I8 : DType::U8))
      throw InputError(weights.string(), stem + "qweight is " + std::string(dtype_name(qw.dtype)) + " " +
                                             qw.shape_str() + ", expected [" + std::to_string(want[0]) +
                                             ", " + std::to_string(want[1]) + "] for " +
                                             std::to_string(bits) + "-bit codes");
    p.codes = unpack_codes(tensor_of(qw), bits, symmetric, cols);
    p.scales = tensor_of(need("scales"));
    if (p.scales.scalar_type() != at::kFloat) throw InputError(weights.string(), stem + "scales must be F32");
    if (!symmetric) p.zeros = tensor_of(need("zeros"));
    if (const TensorView* g = store.find(stem + "g_idx")) p.g_idx = tensor_of(*g);
    try {
      p.validate(stem + "qweight");
    } catch (const InputError& err) {
      throw InputError(weights.string(), err.what());
    }
    out.emplace_back(e.key, packed_dequantize(p));
  }
  return out;
}

}  // namespace ms
