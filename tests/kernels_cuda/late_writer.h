// tests/kernels_cuda/late_writer.cu: a kernel that releases its programmatic dependents first and
// writes last, to check that a kernel after it reads what it writes only after its wait.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace khub::testing {

// Queues on `stream`: release the next kernel, wait `delay_us` on the GPU, copy `bytes` (a
// multiple of 16) from src0 to dst0 and from src1 to dst1. Returns the launch's error.
cudaError_t launch_late_copy(const void* src0, void* dst0, const void* src1, void* dst1,
                             size_t bytes, unsigned delay_us, cudaStream_t stream);

}  // namespace khub::testing
