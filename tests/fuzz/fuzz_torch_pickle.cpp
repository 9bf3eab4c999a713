// libFuzzer harness: the data.pkl of a torch.save archive, wrapped by the harness into a valid
// stored zip beside two storages (archive/data/0: 4 float32, archive/data/1: 2 bf16). Mutating the
// pickle alone reaches the tensor checks of read_torch_bin (offsets, sizes, strides, storage
// types) far more often than mutating the whole archive does.
#include <vector>

#include "core/io/torch_bin.h"
#include "core/util/bytes.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

struct Entry {
  std::string name;
  std::string data;
};

void put(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A stored (method 0) zip, no CRCs (the reader does not check them), no ZIP64.
std::string make_zip(const std::vector<Entry>& entries) {
  std::string out, central;
  for (const Entry& e : entries) {
    const uint64_t offset = out.size();
    put(out, 0x04034b50, 4);
    put(out, 20, 2), put(out, 0, 2), put(out, 0, 2), put(out, 0, 4), put(out, 0, 4);
    put(out, e.data.size(), 4), put(out, e.data.size(), 4);
    put(out, e.name.size(), 2), put(out, 0, 2);
    out += e.name;
    out += e.data;
    put(central, 0x02014b50, 4);
    put(central, 20, 2), put(central, 20, 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0, 4), put(central, 0, 4);
    put(central, e.data.size(), 4), put(central, e.data.size(), 4);
    put(central, e.name.size(), 2), put(central, 0, 2), put(central, 0, 2);
    put(central, 0, 2), put(central, 0, 2), put(central, 0, 4), put(central, offset, 4);
    central += e.name;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  put(out, 0x06054b50, 4);
  put(out, 0, 2), put(out, 0, 2), put(out, entries.size(), 2), put(out, entries.size(), 2);
  put(out, central.size(), 4), put(out, cd_offset, 4), put(out, 0, 2);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string zip = make_zip({{"archive/data.pkl", std::string(reinterpret_cast<const char*>(data), size)},
                                    {"archive/byteorder", "little"},
                                    {"archive/data/0", std::string(16, '\x01')},
                                    {"archive/data/1", std::string(4, '\x02')}});
  const auto file = ms::fuzz::input_file(reinterpret_cast<const uint8_t*>(zip.data()), zip.size(),
                                         "pytorch_model.bin");
  try {
    ms::TensorStore store;
    ms::read_torch_bin(file, store);
    ms::fuzz::touch_all(store);
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind(file.string(), 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
