// libFuzzer harness: the zip reader on whole archives. Accepted entry names must be relative and
// free of ".." components; every stored entry's bytes must lie inside the file.
#include "core/io/mapped_file.h"
#include "core/io/zip_reader.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

bool safe_name(const std::string& n) {
  if (n.empty() || n[0] == '/' || n.find('\\') != std::string::npos) return false;
  if (n.find('\0') != std::string::npos) return false;
  return n != ".." && n.rfind("../", 0) != 0 && n.find("/../") == std::string::npos &&
         !(n.size() >= 3 && n.compare(n.size() - 3, 3, "/..") == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ms::fuzz::input_file(data, size, "archive.zip");
  try {
    const ms::ZipReader zip(ms::MappedFile::open(file));
    for (const auto& e : zip.entries()) {
      MS_FUZZ_ASSERT(safe_name(e.name));
      MS_FUZZ_ASSERT(zip.find(e.name) == &e);
      try {
        const auto bytes = zip.data(e);
        const auto* base = zip.file()->data();
        MS_FUZZ_ASSERT(bytes.data() >= base && bytes.data() + bytes.size() <= base + size);
        unsigned char acc = 0;
        for (std::byte b : bytes) acc ^= static_cast<unsigned char>(b);
        volatile unsigned char sink = acc;
        (void)sink;
      } catch (const ms::InputError&) {
      }
    }
  } catch (const ms::InputError& e) {
    const std::string msg = e.what();
    MS_FUZZ_ASSERT(msg.rfind(file.string() + ": ", 0) == 0);
    MS_FUZZ_ASSERT(msg.find('\n') == std::string::npos);
  }
  return 0;
}
