// khub-community/flash-attn, CUDA variant: what the ABI entry (flash_attn.cu) hands the two
// kernels. The layer contract is docs/layer-contracts.md's `Attention` (varlen over the slotted
// KV cache); lengths are read from `seqs` in device memory, so a launch can be captured in a CUDA
// graph and replayed while sequences grow.
//   prefill.cu: FlashAttention-2 style tiles on tensor cores (mma.sync), for any q_len;
//   decode.cu:  few query rows per sequence, keys split across blocks (split-KV) with the
//               partial results combined through the workspace.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace khub_flash {

enum class Dtype { kBF16, kF16 };

// Split-KV room the contract guarantees: the workspace holds kMaxSplits partial results (D
// outputs, a running max and a sum, all f32) per query row and head when T <= kWorkspaceMaxRows.
constexpr int kMaxSplits = 16;
constexpr int64_t kWorkspaceMaxRows = 64;

struct Params {
  const void* q;        // [T, Hq, D]
  const void* k_cache;  // [S, C, Hk, D]
  const void* v_cache;  // [S, C, Hk, D]
  const int32_t* seqs;  // [N, 4]: slot, q_start, q_len, kv_len (device memory)
  const float* sinks;   // [Hq] or nullptr
  float* workspace;     // kMaxSplits * T * Hq * (D + 2) f32, or nullptr when T > 64
  void* out;            // [T, Hq, D]
  int64_t total_q = 0;  // T
  int num_seqs = 0;     // N
  int hq = 0, hk = 0, d = 0;
  int64_t slots = 0, capacity = 0;  // S, C
  int max_q_len = 0;                // >= every q_len (grid size)
  int64_t max_kv_len = 0;           // >= every kv_len (a split-count hint only)
  float scale = 1.0f;
  int64_t window = 0;    // 0: none; key j visible from position p when p - j < window
  float softcap = 0.0f;  // 0: none
};

// Each returns cudaSuccess or the launch error; neither allocates nor synchronises.
cudaError_t launch_prefill(const Params& p, Dtype dtype, cudaStream_t stream);
cudaError_t launch_decode(const Params& p, Dtype dtype, cudaStream_t stream);

}  // namespace khub_flash
