// quote_name(): an untrusted name (tensor key, zip entry, pickle global) made safe for a one-line
// error message: control characters escaped, long names shortened. Not a general escaper: bytes
// >= 0x80 pass through so UTF-8 names stay readable.
#pragma once

#include <string>
#include <string_view>

namespace ms {

// "'name'"; at most `max_bytes` of the name are shown, then "...".
std::string quote_name(std::string_view name, std::size_t max_bytes = 160);

}  // namespace ms
