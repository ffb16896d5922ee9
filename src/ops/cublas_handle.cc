#include "ops/cublas_handle.h"

#include <array>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/tensor.h"

namespace khub::ops::cuda {
namespace {

constexpr size_t kWorkspaceBytes = 32u << 20;

struct HandleState {
  cublasHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  bool bound = false;
  std::map<cudaStream_t, Tensor> workspaces;
};

}  // namespace

void check_cublas(cublasStatus_t st, const char* expr, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    fail(ErrorKind::kKernel, "cuBLAS error at ", file, ":", line, ": ", expr, " returned ",
         cublasGetStatusName(st), " (", cublasGetStatusString(st), ")");
  }
}

cudaDataType_t cublas_data_type(DType dt, const char* op) {
  switch (dt) {
    case DType::kF32:
      return CUDA_R_32F;
    case DType::kBF16:
      return CUDA_R_16BF;
    case DType::kF16:
      return CUDA_R_16F;
    default:
      fail(ErrorKind::kUnsupported, op, ": dtype ", dtype_name(dt),
           " on CUDA (supported: f32, bf16, f16)");
  }
}

// Handles are deliberately never destroyed (as in PyTorch's handle pool): destroying them at
// thread or process exit can run after the CUDA runtime has shut down.
cublasHandle_t cublas_handle(Device device, cudaStream_t stream) {
  thread_local std::array<HandleState*, 16> states{};
  HandleState*& h = states[device.index];
  if (h == nullptr) {
    auto fresh = std::make_unique<HandleState>();
    KHUB_CUBLAS_CHECK(cublasCreate(&fresh->handle));
    KHUB_CUBLAS_CHECK(cublasSetMathMode(fresh->handle, CUBLAS_DEFAULT_MATH));
    h = fresh.release();
  }
  if (!h->bound || h->stream != stream) {
    KHUB_CUBLAS_CHECK(cublasSetStream(h->handle, stream));  // resets the workspace: set it after
    auto it = h->workspaces.find(stream);
    if (it == h->workspaces.end()) {
      Tensor ws = Tensor::empty({static_cast<int64_t>(kWorkspaceBytes)}, DType::kU8, device);
      it = h->workspaces.emplace(stream, std::move(ws)).first;
    }
    KHUB_CUBLAS_CHECK(cublasSetWorkspace(h->handle, it->second.data(), kWorkspaceBytes));
    h->stream = stream;
    h->bound = true;
  }
  return h->handle;
}

}  // namespace khub::ops::cuda
