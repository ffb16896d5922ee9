// Shared support of the CUDA kernels of the khub-community collection: reading a khub_call
// (include/khub/kernel_abi.h) whose tensors are all declared KHUB_ARG_CONTIGUOUS and live on one
// CUDA device, the f32 <-> bf16/f16 conversions, and 16-byte vectors. Every check that fails writes
// "<function>: <what is wrong>, expected <what>" into the khub_error; kernels never allocate and
// never synchronise (they launch on call->context->stream).
#ifndef KHUB_CUDA_ABI_CUDA_CUH_
#define KHUB_CUDA_ABI_CUDA_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "khub/cuda_launch.cuh"
#include "khub/kernel_abi.h"
#include "khub_env.h"

namespace khub_cuda {

enum class ElemType { kF32, kBF16, kF16 };

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
  return __float2half_rn(v);
}
// Rounds an f32 value to T and back (the intermediate casts of the HF formulas).
template <typename T>
__device__ __forceinline__ float round_to(float v) {
  return to_f32(from_f32<T>(v));
}

// N elements of T loaded or stored as one access (16 bytes when N * sizeof(T) == 16).
template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};
template <typename T, int N>
__device__ __forceinline__ Vec<T, N> load_vec(const T* p) {
  return *reinterpret_cast<const Vec<T, N>*>(p);
}
template <typename T, int N>
__device__ __forceinline__ void store_vec(T* p, const Vec<T, N>& v) {
  *reinterpret_cast<Vec<T, N>*>(p) = v;
}
// Elements per 16-byte vector.
template <typename T>
constexpr int kVec16 = 16 / static_cast<int>(sizeof(T));

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Reads and validates one call. All tensors are expected contiguous (the manifest declares
// KHUB_ARG_CONTIGUOUS, so khub passes compact ones) and on one CUDA device.
class Call {
 public:
  Call(const char* function, const khub_call* call, khub_error* error)
      : function_(function), call_(call), error_(error) {}

  khub_status status() const { return status_; }
  bool fail(khub_status status, const char* fmt, ...) __attribute__((format(printf, 3, 4))) {
    status_ = status;
    if (error_ != nullptr) {
      int n = std::snprintf(error_->message, sizeof(error_->message), "%s: ", function_);
      if (n < 0) n = 0;
      va_list args;
      va_start(args, fmt);
      if (static_cast<size_t>(n) < sizeof(error_->message))
        std::vsnprintf(error_->message + n, sizeof(error_->message) - n, fmt, args);
      va_end(args);
    }
    return false;
  }

  bool check_call(int num_tensors, int num_attrs) {
    if (call_ == nullptr || call_->context == nullptr || call_->tensors == nullptr)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "the call has no context or tensors");
    if (call_->num_tensors != num_tensors || call_->num_attrs != num_attrs)
      return fail(KHUB_STATUS_INVALID_ARGUMENT,
                  "the call has %d tensors and %d attributes, expected %d and %d",
                  call_->num_tensors, call_->num_attrs, num_tensors, num_attrs);
    if (num_attrs > 0 && call_->attrs == nullptr)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "the call has no attributes");
    return true;
  }

  const DLTensor& tensor(int i) const { return call_->tensors[i]; }
  void* data(int i) const { return static_cast<char*>(tensor(i).data) + tensor(i).byte_offset; }
  int64_t numel(int i) const {
    int64_t n = 1;
    for (int d = 0; d < tensor(i).ndim; ++d) n *= tensor(i).shape[d];
    return n;
  }
  int64_t dim(int i, int d) const {
    const DLTensor& t = tensor(i);
    return t.shape[d < 0 ? t.ndim + d : d];
  }
  cudaStream_t stream() const { return static_cast<cudaStream_t>(call_->context->stream); }

  // Tensor i is a contiguous CUDA tensor of f32/bf16/f16 (or exactly f32 when f32_only).
  bool float_tensor(int i, const char* name, ElemType* type, bool f32_only = false) {
    const DLTensor& t = tensor(i);
    if (!on_device(i, name)) return false;
    if (t.dtype.code == kDLFloat && t.dtype.bits == 32) {
      *type = ElemType::kF32;
    } else if (!f32_only && t.dtype.code == kDLBfloat && t.dtype.bits == 16) {
      *type = ElemType::kBF16;
    } else if (!f32_only && t.dtype.code == kDLFloat && t.dtype.bits == 16) {
      *type = ElemType::kF16;
    } else {
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has dtype code %d bits %d, expected %s", name,
                  t.dtype.code, t.dtype.bits, f32_only ? "f32" : "f32, bf16 or f16");
    }
    return contiguous(i, name);
  }
  // Tensor i is a contiguous CUDA tensor of i32 (indices, lengths).
  bool i32_tensor(int i, const char* name) {
    const DLTensor& t = tensor(i);
    if (!on_device(i, name)) return false;
    if (t.dtype.code != kDLInt || t.dtype.bits != 32)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has dtype code %d bits %d, expected i32", name,
                  t.dtype.code, t.dtype.bits);
    return contiguous(i, name);
  }
  // An optional argument the caller left out (khub passes data == NULL and ndim == 0).
  bool absent(int i) const { return tensor(i).data == nullptr && tensor(i).ndim == 0; }
  bool same_type(ElemType a, ElemType b, const char* name, const char* other) {
    if (a != b)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s and %s have different dtypes", name, other);
    return true;
  }
  bool min_rank(int i, const char* name, int r) {
    if (tensor(i).ndim < r)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has %d dims, expected at least %d", name,
                  tensor(i).ndim, r);
    return true;
  }
  bool rank(int i, const char* name, int r) {
    if (tensor(i).ndim != r)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has %d dims, expected %d", name, tensor(i).ndim,
                  r);
    return true;
  }
  // Tensor i has tensor j's shape, except that the last dim of i is last_i.
  bool shape_like(int i, const char* name, int j, const char* other, int64_t last_i) {
    const DLTensor &a = tensor(i), &b = tensor(j);
    bool ok = a.ndim == b.ndim;
    for (int d = 0; ok && d + 1 < a.ndim; ++d) ok = a.shape[d] == b.shape[d];
    if (ok) ok = a.shape[a.ndim - 1] == last_i;
    if (!ok)
      return fail(KHUB_STATUS_INVALID_ARGUMENT,
                  "%s has a shape that does not match %s (last dim expected %lld)", name, other,
                  static_cast<long long>(last_i));
    return true;
  }

  const khub_value* attr(const char* name, int kind) {
    for (int i = 0; i < call_->num_attrs; ++i) {
      const khub_named_value& a = call_->attrs[i];
      if (a.name != nullptr && std::strcmp(a.name, name) == 0) {
        if (a.value.kind != kind) {
          fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s has kind %d, expected %d", name,
               a.value.kind, kind);
          return nullptr;
        }
        return &a.value;
      }
    }
    fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s is missing", name);
    return nullptr;
  }

  // Maps the launch result onto the ABI.
  khub_status launched() {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
      fail(KHUB_STATUS_DEVICE_ERROR, "kernel launch failed: %s", cudaGetErrorString(e));
      return status_;
    }
    return KHUB_STATUS_OK;
  }

 private:
  bool on_device(int i, const char* name) {
    const DLTensor& t = tensor(i);
    if (t.device.device_type != kDLCUDA)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s is on device type %d, expected CUDA (%d)", name,
                  static_cast<int>(t.device.device_type), static_cast<int>(kDLCUDA));
    if (t.data == nullptr && numel(i) > 0)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has no data", name);
    if (t.dtype.lanes != 1)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s has %d lanes, expected 1", name, t.dtype.lanes);
    if (i > 0 && t.device.device_id != tensor(0).device.device_id)
      return fail(KHUB_STATUS_INVALID_ARGUMENT, "%s is on cuda:%d, other arguments on cuda:%d",
                  name, t.device.device_id, tensor(0).device.device_id);
    return true;
  }
  bool contiguous(int i, const char* name) {
    const DLTensor& t = tensor(i);
    if (t.strides != nullptr) {
      int64_t expect = 1;
      for (int d = t.ndim - 1; d >= 0; --d) {
        if (t.shape[d] != 1 && t.strides[d] != expect)
          return fail(KHUB_STATUS_INVALID_ARGUMENT,
                      "%s is not contiguous (dim %d has stride %lld, expected %lld)", name, d,
                      static_cast<long long>(t.strides[d]), static_cast<long long>(expect));
        expect *= t.shape[d];
      }
    }
    return true;
  }

  const char* function_;
  const khub_call* call_;
  khub_error* error_;
  khub_status status_ = KHUB_STATUS_OK;
};

// Calls fn(T{}) with T the CUDA storage type of `type`.
template <typename Fn>
khub_status dispatch(ElemType type, const Fn& fn) {
  switch (type) {
    case ElemType::kF32:
      return fn(float{});
    case ElemType::kBF16:
      return fn(__nv_bfloat16{});
    case ElemType::kF16:
      return fn(__half{});
  }
  return KHUB_STATUS_INTERNAL;
}

// Programmatic dependent launch (khub/cuda_launch.cuh has the rules): kernels launched by
// launch() begin with pdl_wait() and call pdl_launch_dependents() right after it.
// KHUB_CUDA_PDL=0 turns it off.
__device__ __forceinline__ void pdl_wait() { khub_pdl_wait(); }
__device__ __forceinline__ void pdl_launch_dependents() { khub_pdl_launch_dependents(); }

// kernel<<<grid, block, smem, stream>>>(args...) as a programmatic dependent where supported;
// the kernel must begin with pdl_wait(). Returns the launch's error.
template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, Args&&... args) {
  static const bool switched_on = khub_env::flag("KHUB_CUDA_PDL", true);
  int device = -1;
  const bool pdl = switched_on && cudaGetDevice(&device) == cudaSuccess && khub_pdl_capable(device);
  return khub_cuda_launch(pdl, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

// Runs body() and turns an escaping C++ exception into KHUB_STATUS_INTERNAL.
template <typename Body>
khub_status guard_boundary(const char* function, khub_error* error, const Body& body) noexcept {
  try {
    return body();
  } catch (...) {
    if (error != nullptr)
      std::snprintf(error->message, sizeof(error->message), "%s: unexpected C++ exception",
                    function);
    return KHUB_STATUS_INTERNAL;
  }
}

}  // namespace khub_cuda

#endif  // KHUB_CUDA_ABI_CUDA_CUH_
