// RMSNorm kernels, the seam between tier 2 (rmsnorm_launch.cc: threads, ISA choice) and tier 1
// (rmsnorm_compute.h: per-row SIMD code). Each ISA translation unit fills one KernelTable with its
// row kernels; the tables are data, so choosing a path never runs code compiled for another ISA.
#ifndef KHUB_RMSNORM_ROWS_H_
#define KHUB_RMSNORM_ROWS_H_

#include <cstdint>

#include "khub_cpu/half.h"
#include "khub_cpu/row_layout.h"

namespace khub_rmsnorm {

using khub_cpu::bf16_t;
using khub_cpu::f16_t;
using khub_cpu::RowLayout;

// How the normalized row is scaled: by weight (RMSNorm, HF LlamaRMSNorm, where the normalized
// value is rounded to the input dtype before the multiply) or by 1 + weight in f32 (GemmaRMSNorm).
enum class Scale { kWeight, kOnePlusWeight };

template <typename T>
struct ForwardArgs {
  const T* x = nullptr;
  RowLayout x_rows;
  T* residual = nullptr;  // non-null: fused add, residual += x (rounded to T), then norm(residual)
  RowLayout residual_rows;
  const T* weight = nullptr;
  int64_t weight_stride = 1;
  T* out = nullptr;
  RowLayout out_rows;
  int64_t hidden = 0;
  float eps = 0;
  Scale scale = Scale::kWeight;
  bool stream_out = false;  // non-temporal stores for out / grad_x (khub_cpu/streaming.h)
};

template <typename T>
struct BackwardArgs {
  const T* x = nullptr;  // the normalized input; for the fused op, the residual after the forward
  RowLayout x_rows;
  const T* weight = nullptr;
  int64_t weight_stride = 1;
  const T* grad_out = nullptr;
  RowLayout grad_out_rows;
  T* grad_x = nullptr;
  RowLayout grad_x_rows;
  T* grad_residual = nullptr;  // non-null (fused): in = dL/d(residual out); out = dL/d(residual in)
  RowLayout grad_residual_rows;
  // f32 [groups, hidden] scratch: group g accumulates sum over its rows of grad_out * x * rstd.
  float* weight_partials = nullptr;
  int64_t rows_per_group = 1;
  int64_t rows = 0;
  int64_t hidden = 0;
  float eps = 0;
  Scale scale = Scale::kWeight;
  bool stream_out = false;  // non-temporal stores for out / grad_x (khub_cpu/streaming.h)
};

template <typename T>
struct RowKernels {
  void (*forward)(const ForwardArgs<T>& args, int64_t row_begin, int64_t row_end);
  // Groups [group_begin, group_end): zeroes and fills their weight_partials rows.
  void (*backward)(const BackwardArgs<T>& args, int64_t group_begin, int64_t group_end);
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

}  // namespace khub_rmsnorm

#endif  // KHUB_RMSNORM_ROWS_H_
