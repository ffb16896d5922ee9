// khub-community/flash-attn, CUDA variant: what the ABI entry (flash_attn.cu) hands the two
// kernels. The layer contract is docs/layer-contracts.md's `Attention` (varlen over the slotted
// KV cache); lengths are read from `seqs` in device memory, so a launch can be captured in a CUDA
// graph and replayed while sequences grow.
//   prefill.cu: FlashAttention-2 style tiles on tensor cores (mma.sync), for any q_len;
//   decode.cu:  few query rows per sequence, keys split across blocks (split-KV) with the
//               partial results combined through the workspace;
//   rotary_cache.cu: the `RotaryKVCache` layer, which writes the step's keys and values.
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
  const void* q = nullptr;        // [T, Hq, D]
  const void* k_cache = nullptr;  // [S, C, Hk, D]
  const void* v_cache = nullptr;  // [S, C, Hk, D]
  const int32_t* seqs = nullptr;  // [N, 4]: slot, q_start, q_len, kv_len (device memory)
  const float* sinks = nullptr;   // [Hq] or nullptr
  float* workspace = nullptr;     // kMaxSplits * T * Hq * (D + 2) f32, or nullptr when T > 64
  void* out = nullptr;            // [T, Hq, D]
  int64_t total_q = 0;            // T
  int num_seqs = 0;               // N
  int hq = 0, hk = 0, d = 0;
  int64_t slots = 0, capacity = 0;  // S, C
  int max_q_len = 0;                // >= every q_len (grid size)
  int64_t max_kv_len = 0;           // >= every kv_len (a split-count hint only)
  float scale = 1.0f;
  int64_t window = 0;    // 0: none; key j visible from position p when p - j < window
  float softcap = 0.0f;  // 0: none
};

// The `RotaryKVCache` layer (rotary_cache.cu): q/k norms, rotary and the cache append.
struct CacheParams {
  void* q;              // [T, Hq, D], in place
  void* k;              // [T, Hk, D], in place
  const void* v;        // [T, Hk, D]
  const float* cos;     // [T, half]
  const float* sin;     // [T, half]
  const int32_t* rows;  // [T]: flat cache row (slot * C + position) of each token
  void* k_cache;        // [S * C, Hk, D]
  void* v_cache;        // [S * C, Hk, D]
  const void* q_w;      // [D] or nullptr (no norms)
  const void* k_w;      // [D] or nullptr
  int64_t t = 0, hq = 0, hk = 0;
  int d = 0;               // 64, 128 or 256
  int half = 0;            // rotary_dim / 2
  int64_t cache_rows = 0;  // S * C
  float eps = 1e-6f;
  bool interleaved = false;  // GPT-J pairs; else NeoX halves
  bool gemma = false;        // norm scale 1 + weight
};

// Each returns cudaSuccess or the launch error; none allocates or synchronises.
cudaError_t launch_prefill(const Params& p, Dtype dtype, cudaStream_t stream);
cudaError_t launch_decode(const Params& p, Dtype dtype, cudaStream_t stream);
cudaError_t launch_rotary_cache(const CacheParams& p, Dtype dtype, cudaStream_t stream);

}  // namespace khub_flash
