// See disk_space.h.
#include "core/export/disk_space.h"

#include <string>

#include "core/util/error.h"

namespace ms {

void check_free_space(const std::filesystem::path& dir, uint64_t bytes) {
  std::error_code ec;
  const std::filesystem::space_info s = std::filesystem::space(dir, ec);
  if (ec) return;
  // Headroom for the small files beside the weights (scheme, reports, tokenizer).
  const uint64_t need = bytes + (uint64_t(16) << 20);
  if (s.available < need)
    throw InputError(dir.string(), "needs " + std::to_string(need >> 20) + " MB but only " +
                                       std::to_string(s.available >> 20) + " MB are free");
}

}  // namespace ms
