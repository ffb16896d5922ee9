// Programmatic dependent launch for CUDA kernels, shared by khub's own CUDA ops and the kernels
// built against khub/kernel_abi.h (compute capability 9.0 and newer; elsewhere these are no-ops).
//
// A kernel launched by khub_cuda_launch(..., pdl = true) may start while the kernel before it on
// the stream is still running. It must call khub_pdl_wait() before it touches any memory that
// kernel may write: its inputs, and its outputs and workspaces too (an allocator can hand the
// previous kernel's buffers to the next one). After the wait it calls
// khub_pdl_launch_dependents(), so the kernel after it can launch and run its own set-up: no more
// than two kernels overlap, and only the later one's launch and pre-wait work hide behind the
// earlier one's tail. Work before the wait is limited to what the previous kernel cannot change:
// index arithmetic, and constants such as model weights.
#ifndef KHUB_CUDA_LAUNCH_CUH_
#define KHUB_CUDA_LAUNCH_CUH_

#include <cuda_runtime.h>

#include <atomic>
#include <utility>

__device__ __forceinline__ void khub_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void khub_pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Whether CUDA device `device` can launch kernels as programmatic dependents: compute capability
// 9.0 or newer. Cached per device without a lock: it is asked at every launch. (The switch that
// turns PDL off for measurement, KHUB_CUDA_PDL=0, is the caller's to read: this header reads no
// environment.)
inline bool khub_pdl_capable(int device) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> known[kMaxDevices];  // 0 unknown, 1 no, 2 yes
  if (device < 0 || device >= kMaxDevices) return false;
  int k = known[device].load(std::memory_order_relaxed);
  if (k == 0) {
    int major = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
      return false;
    k = major >= 9 ? 2 : 1;
    known[device].store(k, std::memory_order_relaxed);
  }
  return k == 2;
}

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent when pdl is true
// (pass true only on compute capability 9.0+, for a kernel that begins with khub_pdl_wait()).
// Returns the launch's error.
template <typename... Params, typename... Args>
cudaError_t khub_cuda_launch(bool pdl, void (*kernel)(Params...), dim3 grid, dim3 block,
                             size_t smem, cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

#endif  // KHUB_CUDA_LAUNCH_CUH_
