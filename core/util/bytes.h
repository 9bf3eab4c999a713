// Little-endian loads from untrusted byte buffers. Callers check the bounds first; these helpers
// only avoid unaligned-access UB (memcpy) and host byte order assumptions. No bounds logic here on
// purpose: each reader words its own "past the end" message with the file name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ms {

inline uint64_t load_le(const std::byte* p, std::size_t nbytes) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < nbytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
inline uint16_t load_u16le(const std::byte* p) { return static_cast<uint16_t>(load_le(p, 2)); }
inline uint32_t load_u32le(const std::byte* p) { return static_cast<uint32_t>(load_le(p, 4)); }
inline uint64_t load_u64le(const std::byte* p) { return load_le(p, 8); }

inline void store_le(std::byte* p, uint64_t v, std::size_t nbytes) {
  for (std::size_t i = 0; i < nbytes; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

}  // namespace ms
