// The "eager" reference the CPU kernel benchmark compares against (src/ops is not there yet):
// each model-level op as the sequence of tensor ops PyTorch eager runs for it (HF LlamaRMSNorm,
// Gemma3RMSNorm, act(x[..., :D]) * x[..., D:], apply_rotary_pos_emb, and the ops autograd runs
// for their backward), one full pass over memory per op, every op split over the same threads.
// Each op is a plain loop that converts to f32, computes and converts back; this translation unit
// is compiled with -O3 for x86-64-v3 and -ffast-math so GCC vectorizes the loops (libmvec for
// exp/tanh/erf), much as ATen's per-op CPU kernels are vectorized. Intermediate tensors are
// allocated once, outside the timed region (PyTorch would malloc them per op), and ops run on a
// persistent thread pool (thread_pool.h), like ATen's OpenMP pool; both favour the reference.
#pragma once

#include <cstdint>
#include <vector>

#include "khub_cpu/half.h"

namespace khub_bench {

using khub_cpu::bf16_t;

// Intermediate tensors of the eager sequences, sized for one shape.
struct EagerScratch {
  std::vector<float> f0, f1, f2, f3, rows0, rows1, cols;
  std::vector<uint16_t> t0, t1, t2, t3;  // 16-bit intermediates (T = bf16)
  void reserve(int64_t elements, int64_t rows, int64_t cols_);
};

template <typename T>
void eager_rms_norm(const T* x, const T* w, T* out, int64_t rows, int64_t hidden, float eps,
                    bool gemma, EagerScratch& s, int threads);
// residual_out = residual + x (a new tensor, as HF writes it), out = RMSNorm(residual_out).
template <typename T>
void eager_fused_add_rms_norm(const T* x, const T* residual, T* residual_out, const T* w, T* out,
                              int64_t rows, int64_t hidden, float eps, EagerScratch& s,
                              int threads);
// Autograd's op sequence for the backward of eager_rms_norm (plain RMSNorm), given the tensors
// the forward saved: h = x.to(f32), r = rsqrt(mean(h^2) + eps) per row, y = (h * r).to(T).
template <typename T>
void eager_rms_norm_backward(const float* h, const float* r, const T* y, const T* w,
                             const T* grad_out, T* grad_x, T* grad_w, int64_t rows, int64_t hidden,
                             EagerScratch& s, int threads);

enum class EagerAct { kSilu, kGeluTanh, kGelu };
// t = act(x[..., :D]) (a new tensor), out = t * x[..., D:].
template <typename T>
void eager_act_and_mul(EagerAct act, const T* x, T* out, int64_t rows, int64_t d, EagerScratch& s,
                       int threads);
// Autograd's sequence for SiluAndMul's backward: g * up, g * t, silu_backward, two slice copies.
template <typename T>
void eager_silu_and_mul_backward(const T* x, const T* grad_out, T* grad_x, int64_t rows, int64_t d,
                                 EagerScratch& s, int threads);

// HF apply_rotary_pos_emb on one of q/k [tokens, heads, head_dim] (full rotary, NeoX halves):
// out = x * cos + rotate_half(x) * sin, with cos/sin [tokens, head_dim] in T broadcast over heads.
template <typename T>
void eager_rotary(const T* x, const T* cos, const T* sin, T* out, int64_t tokens, int64_t heads,
                  int64_t head_dim, EagerScratch& s, int threads);

}  // namespace khub_bench
