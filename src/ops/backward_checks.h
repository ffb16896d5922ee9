// Internal to ops/: the operand checks the backward entry points (backward_*.cc) share. The CPU
// reference computes in f32 on f32 tensors; the CUDA reference (backward_cuda.cu,
// backward_attention_cuda.cu) takes activations in f32, bf16 or f16 and keeps parameter
// gradients in f32. Every operand lives on the first operand's device.
#pragma once

#include "core/tensor.h"

namespace khub::ops::detail {

// An activation or weight operand: f32 on the CPU; f32/bf16/f16 on CUDA; on `like`'s device.
inline void check_operand(const Tensor& t, const Tensor& like, const char* op, const char* name) {
  KHUB_CHECK_ARG(t.defined(), op, ": ", name, " is undefined");
  KHUB_CHECK_ARG(t.device() == like.device(), op, ": ", name, " ", t.describe(),
                 " is on another device than ", like.describe());
  const bool floating =
      t.dtype() == DType::kF32 || t.dtype() == DType::kBF16 || t.dtype() == DType::kF16;
  KHUB_CHECK_ARG(t.device().is_cuda() ? floating : t.dtype() == DType::kF32, op, ": ", name,
                 " must be ", t.device().is_cuda() ? "an f32, bf16 or f16" : "an f32",
                 " tensor, got ", t.describe());
}

// A gradient accumulator (added into): contiguous f32 on `like`'s device.
inline void check_accumulator(const Tensor& t, const Tensor& like, const char* op,
                              const char* name) {
  KHUB_CHECK_ARG(
      t.defined() && t.dtype() == DType::kF32 && t.is_contiguous() && t.device() == like.device(),
      op, ": ", name, " must be a contiguous f32 tensor on ", like.device().str(), ", got ",
      t.describe());
}

}  // namespace khub::ops::detail
