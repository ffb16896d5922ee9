// Internal to the CUDA ops (built only with CUDA): the cuBLAS handle of the calling thread for a
// device, bound to a stream with its own workspace, and cuBLAS status checks.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/device.h"
#include "core/dtype.h"

namespace khub::ops::cuda {

// Throws Error(kKernel) naming the failed call, its site and the cuBLAS status.
void check_cublas(cublasStatus_t status, const char* expr, const char* file, int line);

// One handle per thread and device (cuBLAS handles must not be used by two threads at once),
// bound to `stream` with a 32 MiB workspace per stream from the caching allocator: cuBLAS's own
// default pool is per handle and unsafe across streams, and allocating workspace at call time
// would break graph capture.
cublasHandle_t cublas_handle(Device device, cudaStream_t stream);

// CUDA_R_32F / CUDA_R_16BF / CUDA_R_16F; other dtypes are Error(kUnsupported) naming op.
cudaDataType_t cublas_data_type(DType dtype, const char* op);

}  // namespace khub::ops::cuda

#define KHUB_CUBLAS_CHECK(expr) ::khub::ops::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)
