// Rotary position embedding: the seam between tier 2 (rotary_launch.cc) and tier 1
// (rotary_compute.h), as in kernels/rmsnorm/cpu/rmsnorm_rows.h.
#ifndef KHUB_ROTARY_ROWS_H_
#define KHUB_ROTARY_ROWS_H_

#include <cstdint>

#include "khub_cpu/half.h"

namespace khub_rotary {

using khub_cpu::bf16_t;
using khub_cpu::f16_t;

// One of q or k: [tokens, heads, head_dim], strides in elements, rotated in place.
template <typename T>
struct HeadsView {
  T* data = nullptr;
  int64_t heads = 0;
  int64_t stride_token = 0, stride_head = 0, stride_dim = 1;
};

// cos or sin: [tokens, rotary_dim / 2] f32.
struct TableView {
  const float* data = nullptr;
  int64_t stride_token = 0, stride_dim = 1;
};

template <typename T>
struct RotaryArgs {
  HeadsView<T> q, k;
  TableView cos, sin;
  int64_t tokens = 0;
  int64_t rotary_dim = 0;    // R: features [0, R) rotate, [R, head_dim) are left alone
  bool interleaved = false;  // false: NeoX pairs (i, i + R/2); true: GPT-J pairs (2i, 2i + 1)
  bool inverse = false;      // rotate by -theta (the backward)
};

template <typename T>
struct RowKernels {
  // Items [begin, end) of tokens * (q.heads + k.heads): item u < tokens * q.heads is
  // q[u / q.heads, u % q.heads], the rest index k the same way.
  void (*rotate)(const RotaryArgs<T>& args, int64_t begin, int64_t end);
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

}  // namespace khub_rotary

#endif  // KHUB_ROTARY_ROWS_H_
