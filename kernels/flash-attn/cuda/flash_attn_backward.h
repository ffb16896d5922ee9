// khub-community/flash-attn, CUDA variant: what the ABI entry (flash_attn.cu) hands
// the backward kernels (backward.cu), the `Attention` contract's backward
// (docs/layer-contracts.md): gradients of q and of the slotted KV cache's rows.
#pragma once

#include <cstddef>

#include "flash_attn.h"

namespace khub_flash {

struct BwdParams {
  // The forward's inputs (q, caches, seqs; out = its output) and attributes.
  Params fwd;
  // [T, Hq, D], q's dtype: the output's gradient.
  const void* dout = nullptr;
  // [T, Hq, D], q's dtype: written, every row (0 for rows of no sequence).
  void* dq = nullptr;
  // [S, C, Hk, D] f32: added into, rows 0 … kv_len − 1 of each sequence's slot.
  float* dk_cache = nullptr;
  float* dv_cache = nullptr;
  // backward_workspace(T, Hq, D) f32: the dq accumulator, log-sum-exp, rowsum(dO·O).
  float* workspace = nullptr;
};

// f32 elements of the workspace: T·Hq·(D + 2).
inline int64_t backward_workspace(int64_t t, int64_t hq, int64_t d) { return t * hq * (d + 2); }

// Dynamic shared memory of the main backward kernel for head_dim d (64, 128 or 256).
size_t backward_smem_bytes(int d);

// cudaSuccess or the launch error; never allocates or synchronises.
cudaError_t launch_backward(const BwdParams& bp, Dtype dtype, cudaStream_t stream);

}  // namespace khub_flash
