#include "core/cuda_graph.h"

#include <cuda_runtime_api.h>

#include "core/cuda/caching_allocator.h"
#include "core/cuda/cuda_check.h"
#include "core/device_backend.h"
#include "core/stream.h"

namespace khub {

CudaGraph::CudaGraph(Device device) : device_(device) {
  KHUB_CHECK_ARG(device.is_cuda(), "CUDA graphs need a CUDA device, not ", device.str());
  detail::ensure_device_backend(device);
}

CudaGraph::~CudaGraph() {
  abort_capture();
  cuda::DeviceGuard g(device_);
  if (exec_ != nullptr) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_ != nullptr) (void)cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  if (pool_ != 0) {
    // A replay may still be running on the stream: finish it before its memory is reused.
    (void)cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
    cuda::allocator_of(device_.index)->release_pool(pool_);
  }
}

void CudaGraph::begin_capture() {
  KHUB_CHECK_ARG(!capturing_ && exec_ == nullptr, "CudaGraph: already captured");
  cuda::DeviceGuard g(device_);
  stream_ = current_stream(device_);
  auto s = static_cast<cudaStream_t>(stream_);
  pool_ = cuda::allocator_of(device_.index)->begin_pool(s);
  cudaError_t err = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  if (err != cudaSuccess) cuda::allocator_of(device_.index)->end_pool();
  KHUB_CUDA_CHECK(err);
  capturing_ = true;
}

void CudaGraph::end_capture() {
  KHUB_CHECK_ARG(capturing_, "CudaGraph: end_capture without begin_capture");
  cuda::DeviceGuard g(device_);
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamEndCapture(static_cast<cudaStream_t>(stream_), &graph);
  cuda::allocator_of(device_.index)->end_pool();
  capturing_ = false;
  KHUB_CUDA_CHECK(err);
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  KHUB_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  exec_ = exec;
}

void CudaGraph::abort_capture() noexcept {
  if (!capturing_) return;
  cudaGraph_t graph = nullptr;
  (void)cudaStreamEndCapture(static_cast<cudaStream_t>(stream_), &graph);
  if (graph != nullptr) (void)cudaGraphDestroy(graph);
  (void)cudaGetLastError();
  cuda::allocator_of(device_.index)->end_pool();
  capturing_ = false;
}

void CudaGraph::replay() {
  KHUB_CHECK_ARG(exec_ != nullptr, "CudaGraph: replay before a capture ended");
  cuda::DeviceGuard g(device_);
  KHUB_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_),
                                  static_cast<cudaStream_t>(current_stream(device_))));
}

}  // namespace khub
