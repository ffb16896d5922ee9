// Tier 3 helpers: reading and validating a khub_call (include/khub/kernel_abi.h) in a CPU kernel's
// ABI binding. Every check that fails writes "<function>: <argument> <what is wrong>, expected
// <what>" into the khub_error and returns false, so bindings read as a list of requirements.
#ifndef KHUB_CPU_ABI_ARGS_H_
#define KHUB_CPU_ABI_ARGS_H_

#include <cstdint>

#include "half.h"
#include "khub/kernel_abi.h"
#include "row_layout.h"
#include "status.h"

namespace khub_cpu {

enum class ElemType { kF32, kBF16, kF16 };
const char* elem_type_name(ElemType type);

class CallArgs {
 public:
  CallArgs(const char* function, const khub_call* call, khub_error* error)
      : function_(function), call_(call), error_(error) {}

  khub_status status() const { return status_; }
  // Records a failure (status + "<function>: " + message); returns false.
  bool fail(khub_status status, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // Maps a launcher's result onto the ABI.
  khub_status finish(Status status, const ErrorText& text);

  // The call struct itself: versions and the number of tensors and attributes.
  bool check_call(int num_tensors, int num_attrs);

  const DLTensor& tensor(int i) const { return call_->tensors[i]; }
  // Element pointer (data + byte_offset) of tensor i.
  void* data(int i) const;
  int64_t numel(int i) const;
  int64_t stride(int i, int dim) const;  // elements; honours strides == NULL (compact)

  // Tensor i is on the CPU and holds one of f32, bf16, f16.
  bool float_tensor(int i, const char* name, ElemType* type);
  // Tensor i is on the CPU and holds f32.
  bool f32_tensor(int i, const char* name);
  bool same_dtype(int i, const char* name, int j, const char* other);
  bool rank(int i, const char* name, int expected);
  bool min_rank(int i, const char* name, int minimum);
  bool same_shape(int i, const char* name, int j, const char* other);
  bool dim_is(int i, const char* name, int dim, int64_t expected, const char* why);
  // Tensor i has shape `expected` (ndim dims); `why` explains where it comes from.
  bool shape_is(int i, const char* name, const int64_t* expected, int ndim, const char* why);
  // Tensor i may be written: no dim of size > 1 has stride 0 (a broadcast view).
  bool writable(int i, const char* name);

  // Rows of tensor i seen as [..., N]: leading dims flattened (never copied).
  bool rows(int i, const char* name, RowLayout* layout);

  bool attr_float(const char* name, double* value);
  bool attr_int(const char* name, int64_t* value);
  bool attr_bool(const char* name, bool* value);

  int num_threads() const;  // 0 = the kernel's choice
  void* workspace() const;
  uint64_t workspace_bytes() const;

 private:
  const khub_named_value* find_attr(const char* name);

  const char* function_;
  const khub_call* call_;
  khub_error* error_;
  khub_status status_ = KHUB_STATUS_OK;
};

// Calls fn(T{}) with T the storage type of `type` (float, bf16_t, f16_t).
template <typename Fn>
khub_status dispatch_float_type(ElemType type, const Fn& fn) {
  switch (type) {
    case ElemType::kF32:
      return fn(float{});
    case ElemType::kBF16:
      return fn(bf16_t{});
    case ElemType::kF16:
      return fn(f16_t{});
  }
  return KHUB_STATUS_INTERNAL;
}

// Runs body() and turns any escaping C++ exception into KHUB_STATUS_INTERNAL: nothing may unwind
// through the C boundary.
template <typename Body>
khub_status guard_boundary(const char* function, khub_error* error, const Body& body) noexcept {
  try {
    return body();
  } catch (...) {
    CallArgs(function, nullptr, error)
        .fail(KHUB_STATUS_INTERNAL, "unexpected C++ exception inside the kernel");
    return KHUB_STATUS_INTERNAL;
  }
}

}  // namespace khub_cpu

#endif  // KHUB_CPU_ABI_ARGS_H_
