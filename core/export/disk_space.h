// The free-space check every export makes before writing a byte: a model that cannot fit is
// refused at once, naming the directory and both sizes, instead of failing minutes later.
#pragma once

#include <cstdint>
#include <filesystem>

namespace ms {

// Throws InputError("<dir>: needs N MB but only M MB are free") when the file system holding `dir`
// has less than `bytes` plus a small margin available. An unknown free space (the query fails)
// passes: the atomic writers still clean up after a full disk.
void check_free_space(const std::filesystem::path& dir, uint64_t bytes);

}  // namespace ms
