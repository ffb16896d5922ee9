// Internal to CUDA builds (included only by sources compiled when nvcc was found): turns CUDA
// runtime errors into khub::Error with the call site, and gives ops the current stream and a
// device guard.
#pragma once

#include <cuda_runtime_api.h>

#include "core/device.h"
#include "core/error.h"

namespace khub::cuda {

// Throws Error(kKernel) naming the failed call, its site and the CUDA error.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line);

// The current stream of `device` for this thread (see core/stream.h).
cudaStream_t stream_for(Device device);

// Selects the device for the calling thread while in scope (restores the previous one).
class DeviceGuard {
 public:
  explicit DeviceGuard(Device device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace khub::cuda

// Checks a CUDA runtime call: on failure throws Error(kKernel) with the expression and site.
#define KHUB_CUDA_CHECK(expr)                                                    \
  do {                                                                           \
    cudaError_t khub_cuda_err_ = (expr);                                         \
    if (khub_cuda_err_ != cudaSuccess) {                                         \
      ::khub::cuda::throw_cuda_error(khub_cuda_err_, #expr, __FILE__, __LINE__); \
    }                                                                            \
  } while (0)

// After a kernel launch: reports launch-configuration errors (and earlier asynchronous ones).
#define KHUB_CUDA_CHECK_LAUNCH() KHUB_CUDA_CHECK(cudaGetLastError())
