// Atomic output directories (a model written by init-random, an export by quantize): the files are
// written into a hidden sibling of the target, which is renamed onto the target only when every
// file is complete. A failure or a cancel removes the sibling, so the target appears whole or not
// at all. Shared by every command and GUI job that writes a model.
#pragma once

#include <filesystem>
#include <functional>

namespace ms {

// Checks that the parent of `out` exists and that `out` does not; returns `out` without a trailing
// separator. Throws InputError naming the directory.
std::filesystem::path prepare_output_directory(const std::filesystem::path& out);

// Creates the hidden sibling, runs write(sibling), renames it onto `out`. On any exception the
// sibling is removed; InputError messages that name the sibling are rewritten to name `out`.
void write_directory_atomically(const std::filesystem::path& out,
                                const std::function<void(const std::filesystem::path& tmp)>& write);

}  // namespace ms
