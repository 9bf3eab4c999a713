// safetensors reader/writer. The header is untrusted: every length, dtype, dim and offset is
// checked against the mapped file before a view is made, and nothing is allocated from a size the
// file claims (the JSON parser only ever sees bytes that exist). Not done here: dtype conversion,
// name mapping (core/model), following symlinks out of a snapshot (HF caches are symlinks into
// ../../blobs, so only the *names* in an index are checked, lexically).
#include "core/io/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/io/atomic_file.h"
#include "core/io/mapped_file.h"
#include "core/util/bytes.h"
#include "core/util/error.h"
#include "core/util/quote.h"

namespace ms {

namespace {

using json = nlohmann::json;

// The python package refuses headers above 100 MB; a real 64-layer header is ~50 KB.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct Span {
  uint64_t begin, end;
  std::string name;
};

// Parses JSON from untrusted bytes, reporting duplicate top-level keys (nlohmann would silently
// keep the last one, letting a file show one tensor to us and another to a different reader).
json parse_header(const std::string& where, const char* begin, const char* end) {
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second) duplicate = k;
    }
    return true;
  };
  json j = json::parse(begin, end, cb, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(where, "header is not valid JSON");
  if (!duplicate.empty())
    throw InputError(where, "duplicate tensor name " + quote_name(duplicate) + " in header");
  if (!j.is_object()) throw InputError(where, "header is not a JSON object");
  return j;
}

uint64_t get_u64(const std::string& where, const std::string& name, const json& v,
                 const char* what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {  // signed: only reached for negative values
    throw InputError(where, "tensor " + quote_name(name) + ": negative " + what);
  }
  throw InputError(where, "tensor " + quote_name(name) + ": " + what + " is not an integer");
}

bool is_escaping_name(const std::filesystem::path& p) {
  if (p.empty() || p.is_absolute() || p.has_root_name() || p.has_root_directory()) return true;
  for (const auto& part : p)
    if (part == "..") return true;
  return false;
}

}  // namespace

std::map<std::string, std::string> read_safetensors(const std::filesystem::path& file,
                                                    TensorStore& store) {
  const std::string where = file.string();
  auto mapped = MappedFile::open(file);
  const std::size_t size = mapped->size();
  if (size < 8) {
    throw InputError(where, "too short for a safetensors file (" + std::to_string(size) +
                                " bytes, the header length alone is 8)");
  }
  const uint64_t header_len = load_u64le(mapped->data());
  if (header_len > size - 8) {
    throw InputError(where, "header length " + std::to_string(header_len) +
                                " exceeds the file size (" + std::to_string(size) + " bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    throw InputError(where,
                     "header length " + std::to_string(header_len) + " is over the 100 MB limit");
  }
  const char* hb = reinterpret_cast<const char*>(mapped->data() + 8);
  const json header = parse_header(where, hb, hb + header_len);

  const std::byte* data = mapped->data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  std::map<std::string, std::string> metadata;
  std::vector<TensorView> views;
  std::vector<Span> spans;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw InputError(where, "__metadata__ is not an object");
      for (const auto& [k, v] : info.items()) {
        if (!v.is_string())
          throw InputError(where, "__metadata__ value of " + quote_name(k) + " is not a string");
        metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!info.is_object())
      throw InputError(where, "tensor " + quote_name(name) + ": entry is not an object");
    const auto dt = info.find("dtype");
    const auto sh = info.find("shape");
    const auto off = info.find("data_offsets");
    if (dt == info.end() || !dt->is_string())
      throw InputError(where, "tensor " + quote_name(name) + ": missing or non-string dtype");
    if (sh == info.end() || !sh->is_array())
      throw InputError(where, "tensor " + quote_name(name) + ": missing or non-array shape");
    if (off == info.end() || !off->is_array() || off->size() != 2)
      throw InputError(where, "tensor " + quote_name(name) + ": data_offsets must be [begin, end]");

    TensorView view;
    view.name = name;
    if (!dtype_from_name(dt->get_ref<const std::string&>(), view.dtype))
      throw InputError(where, "tensor " + quote_name(name) + ": unknown dtype " +
                                  quote_name(dt->get<std::string>()));
    // numel * itemsize computed in 64 bits with overflow checks: a lying shape must not wrap
    // around to a small number that happens to match the offsets.
    uint64_t nbytes = dtype_size(view.dtype);
    for (const auto& d : *sh) {
      const uint64_t dim = get_u64(where, name, d, "dimension");
      if (dim > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(nbytes, dim, &nbytes))
        throw InputError(where,
                         "tensor " + quote_name(name) + ": shape overflows (numel * itemsize)");
      view.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t begin = get_u64(where, name, (*off)[0], "data offset");
    const uint64_t end = get_u64(where, name, (*off)[1], "data offset");
    if (end < begin)
      throw InputError(where, "tensor " + quote_name(name) + ": data_offsets end < begin");
    if (end - begin != nbytes) {
      throw InputError(where, "tensor " + quote_name(name) + ": data_offsets span " +
                                  std::to_string(end - begin) + " bytes but dtype " +
                                  std::string(dtype_name(view.dtype)) + " shape " +
                                  view.shape_str() + " needs " + std::to_string(nbytes));
    }
    if (end > data_size) {
      throw InputError(where, "tensor " + quote_name(name) + ": data_offsets [" +
                                  std::to_string(begin) + ", " + std::to_string(end) +
                                  ") past the end of the data section (" +
                                  std::to_string(data_size) + " bytes)");
    }
    view.data = data + begin;
    view.nbytes = static_cast<std::size_t>(nbytes);
    spans.push_back({begin, end, name});
    views.push_back(std::move(view));
  }

  // Overlapping tensors would alias: writing one (in a future in-place tool) would change the
  // other, and no writer we know produces them. Empty tensors occupy nothing and never overlap.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Span* prev = nullptr;
  for (const auto& s : spans) {
    if (s.begin == s.end) continue;
    if (prev != nullptr && s.begin < prev->end)
      throw InputError(where, "tensors " + quote_name(prev->name) + " and " + quote_name(s.name) +
                                  " overlap in the data section");
    prev = &s;
  }

  store.add_mapping(mapped);
  for (auto& v : views) store.add(std::move(v), file);
  return metadata;
}

void read_safetensors_index(const std::filesystem::path& index_json, TensorStore& store) {
  const std::string where = index_json.string();
  auto mapped = MappedFile::open(index_json);
  const char* b = reinterpret_cast<const char*>(mapped->data());
  json j = json::parse(b, b + mapped->size(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InputError(where, "not valid JSON");
  if (!j.is_object()) throw InputError(where, "not a JSON object");
  const auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object())
    throw InputError(where, "missing or non-object weight_map");

  const std::filesystem::path dir = index_json.parent_path();
  std::map<std::string, std::filesystem::path> expected;  // tensor -> shard path
  std::set<std::string> shards;
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string())
      throw InputError(where, "weight_map entry " + quote_name(name) + " is not a string");
    const std::string s = shard.get<std::string>();
    if (is_escaping_name(s) || s.find('\0') != std::string::npos)
      throw InputError(where, "shard name " + quote_name(s) + " escapes the index's directory");
    // No real shard name holds a control character, and a newline in it would split the
    // "cannot open" message that names the path (found by tests/fuzz/fuzz_safetensors_index).
    if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      throw InputError(where, "shard name " + quote_name(s) + " holds a control character");
    shards.insert(s);
    expected[name] = dir / s;
  }
  if (shards.empty()) throw InputError(where, "weight_map is empty");

  for (const auto& s : shards) read_safetensors(dir / s, store);
  for (const auto& [name, shard] : expected) {
    if (store.find(name) == nullptr)
      throw InputError(where, "tensor " + quote_name(name) +
                                  " listed in weight_map is missing from " + shard.string());
    if (store.source_of(name) != shard) {
      throw InputError(where, "tensor " + quote_name(name) + " is listed in " + shard.string() +
                                  " but found in " + store.source_of(name).string());
    }
  }
}

void write_safetensors(const std::filesystem::path& file, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string where = file.string();
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      throw InputError(
          where, "cannot write tensor " + quote_name(t.name) + ": duplicate or reserved name");
    uint64_t nbytes = dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(nbytes, static_cast<uint64_t>(d), &nbytes))
        throw InputError(where, "cannot write tensor " + quote_name(t.name) + ": bad shape");
    }
    if (nbytes != t.nbytes || (nbytes > 0 && t.data == nullptr)) {
      throw InputError(where, "cannot write tensor " + quote_name(t.name) + ": " +
                                  std::to_string(t.nbytes) + " bytes given, shape and dtype need " +
                                  std::to_string(nbytes));
    }
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned, as the
  // python package does; readers that mmap can then view F64/I64 tensors without copying.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::byte len[8];
  store_le(len, text.size(), 8);

  AtomicFile out(file);
  out.write(len, sizeof len);
  out.write(text);
  for (const auto& t : tensors) out.write(t.data, t.nbytes);
  out.commit();
}

}  // namespace ms
