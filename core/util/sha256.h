// SHA-256 of bytes, as lowercase hex: statistics files record the texts they were computed from.
// Our own small implementation (FIPS 180-4) rather than OpenSSL, which the GPU host lacks; it is
// checked against the standard test vectors in tests/io/tst_sha256.cpp.
#pragma once

#include <string>
#include <string_view>

namespace ms {

std::string sha256_hex(std::string_view bytes);

}  // namespace ms
