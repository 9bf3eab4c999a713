// pytorch_model.bin (torch.save zip format, torch >= 1.6) -> TensorStore. The zip gives the raw
// storages, the restricted unpickler gives the state dict's structure; here we join the two and
// check every tensor against the bytes its storage really has. Not supported: the legacy
// (pre-1.6) tar/pickle format, non-contiguous views, big-endian archives, tensor subclasses.
#include "core/io/torch_bin.h"

#include <cstring>

#include "core/io/mapped_file.h"
#include "core/io/unpickler.h"
#include "core/io/zip_reader.h"
#include "core/util/error.h"
#include "core/util/quote.h"

namespace ms {

namespace {

std::string dims_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// Finds "<prefix>/data.pkl" where prefix is the archive's single top folder (torch.save names it
// after the file's stem, but any name is legal).
std::string find_prefix(const ZipReader& zip, const std::string& where) {
  std::string prefix;
  for (const auto& e : zip.entries()) {
    const auto slash = e.name.find('/');
    if (slash == std::string::npos || e.name.compare(slash, std::string::npos, "/data.pkl") != 0)
      continue;
    if (!prefix.empty()) throw InputError(where, "archive holds more than one data.pkl");
    prefix = e.name.substr(0, slash);
  }
  if (prefix.empty())
    throw InputError(where, "not a torch.save archive (no <prefix>/data.pkl entry)");
  return prefix;
}

}  // namespace

void read_torch_bin(const std::filesystem::path& file, TensorStore& store) {
  const std::string where = file.string();
  auto mapped = MappedFile::open(file);
  if (mapped->size() < 4 || std::memcmp(mapped->data(), "PK\x03\x04", 4) != 0) {
    throw InputError(where,
                     "not a zip archive (the legacy pre-1.6 torch.save format is not supported; "
                     "re-save with a current torch)");
  }
  const ZipReader zip(mapped);
  const std::string prefix = find_prefix(zip, where);

  if (const ZipEntry* bo = zip.find(prefix + "/byteorder")) {
    const auto b = zip.data(*bo);
    if (std::string_view(reinterpret_cast<const char*>(b.data()), b.size()) != "little")
      throw InputError(where, "big-endian torch archives are not supported");
  }
  const std::string pkl_name = prefix + "/data.pkl";
  // The archive prefix is the zip's own (untrusted) folder name: quoted, so a control character in it
  // cannot break the one-line error.
  const PickleDocument doc = unpickle(zip.data(*zip.find(pkl_name)), where + " (" + quote_name(pkl_name) + ")");
  const PickleValue& root = doc.root();
  if (root.kind != PickleKind::Dict)
    throw InputError(where, "data.pkl is not a state dict (not a dict)");

  std::vector<TensorView> views;
  for (const auto& [key, value] : root.entries) {
    if (key->kind != PickleKind::Str) throw InputError(where, "state dict has a non-string key");
    const std::string& name = key->text;
    // Non-tensor entries (a version int, None) are not weights; skipping them is what
    // load_state_dict's consumers would do with them too.
    if (value->kind != PickleKind::Tensor) continue;
    const PickleTensor& t = value->tensor;
    const PickleStorage& s = t.storage->storage;
    const std::string entry_name = prefix + "/data/" + s.key;
    const ZipEntry* entry = zip.find(entry_name);
    if (entry == nullptr)
      throw InputError(where, "tensor " + quote_name(name) + ": storage entry " +
                                  quote_name(entry_name) + " is missing");
    const auto bytes = zip.data(*entry);
    const uint64_t item = dtype_size(s.dtype);
    uint64_t storage_bytes = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(s.numel), item, &storage_bytes) ||
        storage_bytes != bytes.size()) {
      throw InputError(where, "tensor " + quote_name(name) + ": storage " + quote_name(s.key) +
                                  " has " + std::to_string(bytes.size()) +
                                  " bytes, the pickle says " + std::to_string(s.numel) +
                                  " elements of " + std::string(dtype_name(s.dtype)));
    }
    // numel and the row-major strides, with overflow checks; dims of size 1 may carry any stride
    // (torch leaves them arbitrary even for contiguous tensors), and empty tensors are always fine.
    uint64_t numel = 1;
    for (int64_t d : t.size) {
      if (d < 0 || __builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel))
        throw InputError(where, "tensor " + quote_name(name) + ": bad size " + dims_str(t.size));
    }
    if (numel > 0) {
      uint64_t expected = 1;
      for (std::size_t i = t.size.size(); i-- > 0;) {
        if (t.size[i] != 1 && static_cast<uint64_t>(t.stride[i]) != expected) {
          throw InputError(where, "tensor " + quote_name(name) + " is not contiguous (size " +
                                      dims_str(t.size) + ", stride " + dims_str(t.stride) +
                                      "); save it with .contiguous()");
        }
        expected *= static_cast<uint64_t>(t.size[i]);
      }
    }
    if (t.storage_offset < 0 ||
        static_cast<uint64_t>(t.storage_offset) > static_cast<uint64_t>(s.numel) ||
        numel > static_cast<uint64_t>(s.numel) - static_cast<uint64_t>(t.storage_offset)) {
      throw InputError(where, "tensor " + quote_name(name) + ": offset " +
                                  std::to_string(t.storage_offset) + " + " + std::to_string(numel) +
                                  " elements exceeds its storage of " + std::to_string(s.numel));
    }
    TensorView v;
    v.name = name;
    v.dtype = s.dtype;
    v.shape = t.size;
    v.data = bytes.data() + static_cast<std::size_t>(t.storage_offset) * item;
    v.nbytes = static_cast<std::size_t>(numel * item);
    views.push_back(std::move(v));
  }
  store.add_mapping(mapped);
  for (auto& v : views) store.add(std::move(v), file);
}

}  // namespace ms
