// See quote.h.
#include "core/util/quote.h"

namespace ms {

std::string quote_name(std::string_view name, std::size_t max_bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out = "'";
  const std::size_t n = name.size() < max_bytes ? name.size() : max_bytes;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c == '\n')
      out += "\\n";
    else if (c == '\\')
      out += "\\\\";
    else if (c < 0x20 || c == 0x7f)
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    else
      out += static_cast<char>(c);
  }
  if (n < name.size()) out += "...";
  return out + "'";
}

}  // namespace ms
