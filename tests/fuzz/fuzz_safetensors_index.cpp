// libFuzzer harness: model.safetensors.index.json. The index sits in <scratch>/model/ beside two
// real shards; <scratch>/outside.safetensors holds a tensor named "secret". Whatever the index
// says, the reader must never open a file outside model/ (the secret must never be read), and
// every tensor it returns must come from a shard inside model/.
#include <string_view>

#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

const std::filesystem::path& model_dir() {
  static const std::filesystem::path dir = [] {
    const auto root = ms::fuzz::scratch_dir();
    const auto d = root / "model";
    std::filesystem::create_directories(d);
    const float vals[4] = {1, 2, 3, 4};
    // The shard and tensor names of tests/fixtures/readers/sharded, so its index is a live seed.
    ms::write_safetensors(d / "model-00001-of-00002.safetensors",
                          {{"backbone.embeddings.weight", ms::DType::F32, {2, 1}, vals, 8},
                           {"backbone.layers.0.mixer.D", ms::DType::F32, {1}, vals + 2, 4}});
    ms::write_safetensors(d / "model-00002-of-00002.safetensors",
                          {{"backbone.norm_f.weight", ms::DType::F32, {1}, vals + 3, 4}});
    ms::write_safetensors(root / "outside.safetensors",
                          {{"secret", ms::DType::F32, {1}, vals, 4}});
    std::filesystem::create_directories(d / "sub");
    ms::write_safetensors(d / "sub" / "inner.safetensors",
                          {{"inner", ms::DType::F32, {1}, vals, 4}});
    return d;
  }();
  return dir;
}

// Lexically inside `dir`: the reader refuses "..", absolute and rooted names, so normalising
// the joined path must keep the directory as its prefix.
bool inside(const std::filesystem::path& p, const std::filesystem::path& dir) {
  const std::string n = p.lexically_normal().string(), d = dir.lexically_normal().string() + "/";
  return n.rfind(d, 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto index = model_dir() / "model.safetensors.index.json";
  ms::fuzz::write_bytes(index, data, size);
  try {
    ms::TensorStore store;
    ms::read_safetensors_index(index, store);
    ms::fuzz::touch_all(store);
    MS_FUZZ_ASSERT(store.find("secret") == nullptr);
    for (const auto& [name, v] : store.tensors()) MS_FUZZ_ASSERT(inside(store.source_of(name), model_dir()));
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
    MS_FUZZ_ASSERT(msg.find("secret") == std::string::npos || std::string_view(reinterpret_cast<const char*>(data), size).find("secret") != std::string_view::npos);
  }
  return 0;
}
