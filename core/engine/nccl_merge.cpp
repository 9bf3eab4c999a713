// The only file that calls NCCL. Its functions are looked up with dlsym in the libnccl.so.2 that
// LibTorch's CUDA part loads (else the one the build found), so nothing links NCCL.
#include "core/engine/nccl_merge.h"

#include <set>
#include <stdexcept>
#include <type_traits>

#include <ATen/ATen.h>

#include "core/engine/fused_calibration.h"
#include "core/util/error.h"
#include "kernels/calib_kernels.h"
#include "kernels/cuda_stream.h"

#ifdef MAMBASCOPE_NCCL
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace ms {

#ifdef MAMBASCOPE_NCCL
namespace {

struct NcclApi {
  decltype(&ncclCommInitAll) comm_init_all = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclGroupStart) group_start = nullptr;
  decltype(&ncclGroupEnd) group_end = nullptr;
  decltype(&ncclReduce) reduce = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
};

// Null with the reason when the library or one of its functions cannot be found.
const NcclApi* nccl_api(std::string* why_not) {
  static std::string failure;
  static const NcclApi* api = []() -> const NcclApi* {
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD);  // LibTorch's, when loaded
    if (!lib) lib = dlopen(MAMBASCOPE_NCCL_LIBRARY, RTLD_NOW);
    if (!lib) lib = dlopen("libnccl.so.2", RTLD_NOW);
    if (!lib) {
      failure = std::string("cannot open libnccl.so.2 (") + MAMBASCOPE_NCCL_LIBRARY + ")";
      return nullptr;
    }
    static NcclApi a;
    auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn && failure.empty()) failure = std::string("libnccl.so.2 has no ") + name;
    };
    get(a.comm_init_all, "ncclCommInitAll");
    get(a.comm_destroy, "ncclCommDestroy");
    get(a.group_start, "ncclGroupStart");
    get(a.group_end, "ncclGroupEnd");
    get(a.reduce, "ncclReduce");
    get(a.error_string, "ncclGetErrorString");
    return failure.empty() ? &a : nullptr;
  }();
  if (!api && why_not) *why_not = failure;
  return api;
}

void check(const NcclApi& api, ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw std::runtime_error(std::string("NCCL ") + what + ": " + api.error_string(r));
}

ncclDataType_t nccl_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;  // fp64 sums stay fp64
    case at::kLong: return ncclInt64;      // histogram counts
    default: throw std::runtime_error("NCCL merge: unexpected accumulator dtype");
  }
}

ncclRedOp_t nccl_op(FusedCalibrator::Combine c) {
  switch (c) {
    case FusedCalibrator::Combine::Sum: return ncclSum;
    case FusedCalibrator::Combine::Max: return ncclMax;
    case FusedCalibrator::Combine::Min: return ncclMin;
  }
  return ncclSum;
}

}  // namespace

bool nccl_available(std::string* why_not) { return nccl_api(why_not) != nullptr; }

void nccl_reduce_into_first(const std::vector<FusedCalibrator*>& cals) {
  std::string why;
  const NcclApi* api = nccl_api(&why);
  if (!api) throw UsageError("merging several GPUs' statistics needs NCCL: " + why);
  const int n = static_cast<int>(cals.size());
  if (n < 2) return;
  std::vector<int> devices;
  std::set<int> distinct;
  std::vector<std::vector<FusedCalibrator::Accumulator>> acc;
  for (FusedCalibrator* c : cals) {
    devices.push_back(c->device().index());
    distinct.insert(c->device().index());
    acc.push_back(c->accumulators());
  }
  if (static_cast<int>(distinct.size()) != n) throw UsageError("NCCL merge: a GPU appears twice");
  for (int k = 1; k < n; ++k) {
    bool same = acc[size_t(k)].size() == acc[0].size();
    for (size_t a = 0; same && a < acc[0].size(); ++a)
      same = acc[size_t(k)][a].name == acc[0][a].name &&
             acc[size_t(k)][a].tensor->numel() == acc[0][a].tensor->numel() &&
             acc[size_t(k)][a].tensor->scalar_type() == acc[0][a].tensor->scalar_type();
    if (!same) throw std::runtime_error("NCCL merge: the GPUs hold different statistics");
  }
  std::vector<ncclComm_t> comms(size_t(n), nullptr);
  check(*api, api->comm_init_all(comms.data(), n, devices.data()), "ncclCommInitAll");
  try {
    // One group per statistic: every device's part of one reduction is issued together, on each
    // device's legacy default stream, behind the kernels that accumulated it.
    for (size_t a = 0; a < acc[0].size(); ++a) {
      check(*api, api->group_start(), "ncclGroupStart");
      for (int k = 0; k < n; ++k) {
        at::Tensor& t = *acc[size_t(k)][a].tensor;
        check(*api, api->reduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t),
                                nccl_op(acc[size_t(k)][a].combine), /*root=*/0, comms[size_t(k)],
                                /*stream: legacy default*/ nullptr),
              "ncclReduce");
      }
      check(*api, api->group_end(), "ncclGroupEnd");
    }
    for (int k = 0; k < n; ++k) {  // surface a failed reduction here, not in a later copy
      kernels::cuda_set_device(devices[size_t(k)]);
      kernels::cuda_synchronize();
    }
  } catch (...) {
    for (ncclComm_t c : comms) api->comm_destroy(c);
    throw;
  }
  for (ncclComm_t c : comms) api->comm_destroy(c);
  for (int k = 1; k < n; ++k) cals[0]->absorb_counts(*cals[size_t(k)]);
}

#else  // no NCCL in this build

bool nccl_available(std::string* why_not) {
  if (why_not)
    *why_not = "this build has no NCCL (configure with CUDA and the torch wheel's nvidia/nccl; "
               "MAMBASCOPE_NCCL)";
  return false;
}

void nccl_reduce_into_first(const std::vector<FusedCalibrator*>& cals) {
  if (cals.size() < 2) return;
  std::string why;
  nccl_available(&why);
  throw UsageError("merging several GPUs' statistics needs NCCL: " + why);
}

#endif

}  // namespace ms
