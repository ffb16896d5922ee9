// Gated activations (SiluAndMul, GeluTanhAndMul, GeluAndMul): the seam between tier 2
// (activation_launch.cc) and tier 1 (activation_compute.h), as in
// kernels/rmsnorm/cpu/rmsnorm_rows.h.
#ifndef KHUB_ACTIVATION_ROWS_H_
#define KHUB_ACTIVATION_ROWS_H_

#include <cstdint>

#include "khub_cpu/half.h"
#include "khub_cpu/row_layout.h"

namespace khub_activation {

using khub_cpu::bf16_t;
using khub_cpu::f16_t;
using khub_cpu::RowLayout;

// act(a) for a = x[..., :D]; the output is act(a) * x[..., D:].
enum class Act {
  kSilu,      // a * sigmoid(a)
  kGeluTanh,  // 0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3)))  ("gelu_pytorch_tanh")
  kGelu,      // 0.5 a (1 + erf(a / sqrt(2)))                      (exact GELU)
};

template <typename T>
struct ForwardArgs {
  const T* x = nullptr;  // [rows, 2D]
  RowLayout x_rows;
  T* out = nullptr;  // [rows, D]
  RowLayout out_rows;
  int64_t d = 0;
  Act act = Act::kSilu;
  bool stream_out = false;  // non-temporal stores for out / grad_x (khub_cpu/streaming.h)
};

template <typename T>
struct BackwardArgs {
  const T* x = nullptr;  // [rows, 2D]
  RowLayout x_rows;
  const T* grad_out = nullptr;  // [rows, D]
  RowLayout grad_out_rows;
  T* grad_x = nullptr;  // [rows, 2D]
  RowLayout grad_x_rows;
  int64_t d = 0;
  Act act = Act::kSilu;
  bool stream_out = false;  // non-temporal stores for out / grad_x (khub_cpu/streaming.h)
};

template <typename T>
struct RowKernels {
  void (*forward)(const ForwardArgs<T>& args, int64_t row_begin, int64_t row_end);
  void (*backward)(const BackwardArgs<T>& args, int64_t row_begin, int64_t row_end);
};

struct KernelTable {
  RowKernels<float> f32;
  RowKernels<bf16_t> bf16;
  RowKernels<f16_t> f16;
};

extern const KernelTable kScalarKernels;
extern const KernelTable kAvx2Kernels;
extern const KernelTable kAvx512Kernels;
extern const KernelTable kAvx512Bf16Kernels;

}  // namespace khub_activation

#endif  // KHUB_ACTIVATION_ROWS_H_
