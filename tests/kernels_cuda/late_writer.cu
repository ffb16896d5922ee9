// A deliberately late writer for the programmatic-dependent-launch tests: it lets the next kernel
// on the stream launch at once (griddepcontrol.launch_dependents before anything else), spins for
// `delay_ns`, and only then copies two buffers (a layer's keys and values). A kernel after it
// that reads them before its own griddepcontrol.wait sees the old contents; one that reads after
// the wait sees the new ones. Launched plainly where programmatic dependent launch is unavailable
// (then the stream orders the two kernels and the test checks only the plain path).
#include "late_writer.h"

#include <cstdint>

#include "khub/cuda_launch.cuh"

namespace khub::testing {
namespace {

__global__ void late_copy(const uint4* src0, uint4* dst0, const uint4* src1, uint4* dst1, int64_t n,
                          uint64_t delay_ns) {
  khub_pdl_wait();  // its own inputs
  khub_pdl_launch_dependents();
  uint64_t t0 = 0, t = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  } while (t - t0 < delay_ns);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    dst0[i] = src0[i];
    dst1[i] = src1[i];
  }
}

}  // namespace

cudaError_t launch_late_copy(const void* src0, void* dst0, const void* src1, void* dst1,
                             size_t bytes, unsigned delay_us, cudaStream_t stream) {
  if (bytes % sizeof(uint4) != 0) return cudaErrorInvalidValue;
  int device = -1;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  const int64_t n = static_cast<int64_t>(bytes / sizeof(uint4));
  return khub_cuda_launch(khub_pdl_capable(device), late_copy, dim3(4), dim3(128), 0, stream,
                          static_cast<const uint4*>(src0), static_cast<uint4*>(dst0),
                          static_cast<const uint4*>(src1), static_cast<uint4*>(dst1), n,
                          uint64_t{delay_us} * 1000);
}

}  // namespace khub::testing
