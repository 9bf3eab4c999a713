// The few CUDA runtime calls that layer streaming and the multi-GPU calibration need beyond the
// kernels: the current device of the CUDA runtime we link (static, separate from LibTorch's, so
// a worker thread sets both), a non-blocking side stream, events between it and the legacy
// default stream (where our kernels and LibTorch's ops run), pinned host memory and an
// asynchronous host-to-device copy. Torch-free; without MAMBASCOPE_CUDA every call throws
// (stubs_no_cuda.cpp) except pinned_alloc, which returns null (callers fall back to pageable).
#pragma once

#include <cstddef>
#include <string>

namespace ms::kernels {

using StreamHandle = void*;  // cudaStream_t
using EventHandle = void*;   // cudaEvent_t

void cuda_set_device(int device);
int cuda_device_count();
// The device's marketing name ("NVIDIA H100 80GB HBM3"); empty when it cannot be asked.
std::string cuda_device_name(int device);

// A stream that does not synchronise with the legacy default stream (so a copy on it overlaps
// the default stream's kernels), on the current device.
StreamHandle stream_create_nonblocking();
void stream_destroy(StreamHandle s);
void stream_synchronize(StreamHandle s);

EventHandle event_create();  // timing disabled
void event_destroy(EventHandle e);
// `stream` null: the legacy default stream.
void event_record(EventHandle e, StreamHandle stream);
// Later work on `stream` (null: the legacy default stream) waits for the event.
void stream_wait_event(StreamHandle stream, EventHandle e);

// Page-locked host memory usable from every device (cudaHostAllocPortable); null without CUDA,
// without a GPU or when the host cannot lock that much (the caller falls back to pageable memory).
void* pinned_alloc(std::size_t bytes);
void pinned_free(void* p);
void copy_to_device_async(void* device_dst, const void* host_src, std::size_t bytes, StreamHandle s);

}  // namespace ms::kernels
