// Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp). The readers take paths (they mmap),
// so each input is written to a scratch file first; the scratch directory lives on tmpfs when
// there is one and is removed at exit. Only InputError is an accepted outcome: any other
// exception escapes the harness, aborts, and libFuzzer saves the input as a crash.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/io/tensor_store.h"

namespace ms::fuzz {

// A directory private to this process, removed at exit (crash or not: libFuzzer's own death
// callback does not run atexit, so the runner also clears stale ones).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("mambascope-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    static const std::filesystem::path to_remove = d;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(to_remove, ec);
    });
    return d;
  }();
  return dir;
}

inline void write_bytes(const std::filesystem::path& file, const void* data, std::size_t size) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();  // the harness's own failure, not the reader's
}

// Writes the input to `<scratch>/<name>` and returns the path.
inline std::filesystem::path input_file(const uint8_t* data, std::size_t size,
                                        const std::string& name) {
  const std::filesystem::path p = scratch_dir() / name;
  write_bytes(p, data, size);
  return p;
}

// Reads every byte of every view, so that a view pointing past its mapping faults under ASan
// (a page beyond a mapping is unmapped or belongs to something else; ASan sees heap misuse, the
// MMU sees the rest).
inline void touch_all(const TensorStore& store) {
  unsigned char acc = 0;
  for (const auto& [name, v] : store.tensors()) {
    const auto* p = reinterpret_cast<const unsigned char*>(v.data);
    for (std::size_t i = 0; i < v.nbytes; ++i) acc ^= p[i];
    if (v.numel() < 0 || static_cast<std::size_t>(v.numel()) * dtype_size(v.dtype) != v.nbytes)
      std::abort();  // a view whose size disagrees with its shape
  }
  volatile unsigned char sink = acc;
  (void)sink;
}

// A condition the reader promises; failing it is a finding, reported like a crash.
#define MS_FUZZ_ASSERT(cond)                                                    \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

}  // namespace ms::fuzz
