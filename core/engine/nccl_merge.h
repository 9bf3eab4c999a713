// Reducing several GPUs' calibration accumulators on the GPUs (one process, one communicator per
// device from ncclCommInitAll): sums, counts' histograms and fp64 sums with ncclSum (fp64 stays
// fp64), absmax and max with ncclMax, min with ncclMin, each into the first calibrator's tensors
// on its device; the host then copies one set. All NCCL calls live in nccl_merge.cpp.
//
// NCCL comes with the torch wheel (nvidia/nccl); the build finds its header (MAMBASCOPE_NCCL,
// CMake) and the library is opened at run time, where LibTorch's CUDA part has usually loaded it
// already, so the executables keep starting without it.
#pragma once

#include <string>
#include <vector>

namespace ms {

class FusedCalibrator;

// Whether this build has NCCL and the library can be opened; the reason when not.
bool nccl_available(std::string* why_not = nullptr);

// calibrators: each on its own GPU, all of the same model, each having run at least one batch.
// Afterwards calibrators[0] holds the combined statistics (finish() copies them) and the others
// hold none. Throws UsageError when NCCL is unavailable, InputError-free runtime_error on an
// NCCL failure (its message).
void nccl_reduce_into_first(const std::vector<FusedCalibrator*>& calibrators);

}  // namespace ms
