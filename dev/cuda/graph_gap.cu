// Experiment (dev/, not part of the build): what one kernel node of a CUDA graph costs when the
// kernels form a dependent chain, with and without programmatic dependent launch (PDL), for
// empty kernels and for GEMV-like kernels that read 2 MB of weights each (the Qwen3-0.6B decode
// shapes). Prints µs per node.
//   nvcc -O2 -std=c++17 -gencode=arch=compute_90a,code=sm_90a dev/cuda/graph_gap.cu -o graph_gap
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstdio>

#define CK(x)                                                               \
  do {                                                                      \
    cudaError_t e = (x);                                                    \
    if (e != cudaSuccess) {                                                 \
      std::printf("%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); \
      return 1;                                                             \
    }                                                                       \
  } while (0)

__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_trigger() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

__global__ void tiny(float* x, int pdl) {
  if (pdl) pdl_wait();
  if (pdl) pdl_trigger();
  if (threadIdx.x == 0 && blockIdx.x == 0) x[0] += 1.0f;
}

// y[r] = w[r, :] · x, one warp per row, K = 1024; pdl: the weights are loaded before the wait.
__global__ void gemv(const __nv_bfloat16* __restrict__ w, const float* x, float* y, int rows,
                     int pdl) {
  int row = blockIdx.x * 8 + threadIdx.x / 32, lane = threadIdx.x % 32;
  uint4 wv[4];
  const uint4* wr = reinterpret_cast<const uint4*>(w + static_cast<size_t>(row) * 1024);
#pragma unroll
  for (int i = 0; i < 4; ++i) wv[i] = wr[lane + 32 * i];
  if (pdl) pdl_wait();
  if (pdl) pdl_trigger();
  float acc = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const __nv_bfloat16* p = reinterpret_cast<const __nv_bfloat16*>(&wv[i]);
#pragma unroll
    for (int j = 0; j < 8; ++j) acc += __bfloat162float(p[j]) * x[(lane + 32 * i) * 8 + j];
  }
  for (int o = 16; o; o >>= 1) acc += __shfl_xor_sync(0xffffffff, acc, o);
  if (lane == 0 && row < rows) y[row] = acc * 1e-3f;
}

int main() {
  const int kNodes = 420, kRows = 1024;  // 1024 rows × 1024 × 2 B = 2 MB per GEMV
  float *x, *buf;
  __nv_bfloat16* w;
  CK(cudaMalloc(&x, 4 * 1024 * 4));
  CK(cudaMalloc(&buf, 2 * 4096 * 4));
  CK(cudaMemset(buf, 0, 2 * 4096 * 4));
  CK(cudaMalloc(&w, size_t{kNodes} * kRows * 1024 * 2));  // distinct weights per node: no L2 reuse
  CK(cudaMemset(w, 0, size_t{kNodes} * kRows * 1024 * 2));
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int kind = 0; kind < 2; ++kind) {
    for (int pdl = 0; pdl < 2; ++pdl) {
      cudaGraph_t g;
      cudaGraphExec_t ge;
      CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
      for (int i = 0; i < kNodes; ++i) {
        cudaLaunchConfig_t cfg = {};
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.stream = s;
        cfg.attrs = attr;
        cfg.numAttrs = pdl ? 1 : 0;
        if (kind == 0) {
          cfg.gridDim = dim3(1);
          cfg.blockDim = dim3(32);
          CK(cudaLaunchKernelEx(&cfg, tiny, x, pdl));
        } else {
          cfg.gridDim = dim3(kRows / 8);
          cfg.blockDim = dim3(256);
          float* in = buf + (i % 2) * 4096;
          float* out = buf + ((i + 1) % 2) * 4096;
          CK(cudaLaunchKernelEx(&cfg, gemv, w + size_t{i} * kRows * 1024, in, out, kRows, pdl));
        }
      }
      CK(cudaStreamEndCapture(s, &g));
      CK(cudaGraphInstantiate(&ge, g, 0));
      for (int i = 0; i < 3; ++i) CK(cudaGraphLaunch(ge, s));
      CK(cudaEventRecord(e0, s));
      const int reps = 20;
      for (int i = 0; i < reps; ++i) CK(cudaGraphLaunch(ge, s));
      CK(cudaEventRecord(e1, s));
      CK(cudaEventSynchronize(e1));
      float ms;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      double us = 1e3 * ms / reps / kNodes;
      double gbs = kind ? kRows * 1024 * 2 / (us * 1e-6) / 1e9 : 0;
      std::printf("%-6s pdl=%d  %6.2f us/node  %s%.0f GB/s\n", kind ? "gemv" : "empty", pdl, us,
                  kind ? "" : "(n/a) ", gbs);
      CK(cudaGraphExecDestroy(ge));
      CK(cudaGraphDestroy(g));
    }
  }
  return 0;
}
