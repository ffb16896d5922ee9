// khub-community/decode-step, CUDA variant: what the ABI entry (decode_step.cu) hands the
// persistent kernel (decode_step_kernel.cu). One launch runs a whole batch-1 decode step of a
// llama-family decoder stack (docs/layer-contracts.md, `DecodeStep`): per layer the input norm,
// the fused q/k/v projection, the q/k norms (qwen3), rotary, the KV-cache append, attention over
// the cache, the o projection and its residual add, the post-attention norm, gate/up with SiLU·up,
// the down projection and its residual add; then the final norm and the LM head.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace khub_decode_step {

// Ring of weight tiles in shared memory: kStages stages of kStageBytes, filled by TMA bulk copies
// (cp.async.bulk) that run ahead of the compute across phase boundaries.
constexpr int kStages = 6;
constexpr int kStageBytes = 32768;
constexpr int kConsumerWarps = 8;
constexpr int kThreads = (kConsumerWarps + 1) * 32;  // + one producer warp
constexpr int kMaxTileRows = 32;
constexpr int kMaxWidth = 8192;  // H, Hq·D and I (the shared-memory input vector)
constexpr int kMaxHeadDim = 128;
constexpr int kPhasesPerLayer = 5;  // qkv, attention, o, gate/up, down

// Counters in global memory: one per phase (tiles done), then one the blocks arrive on at exit;
// the last block to arrive zeroes them all, so every launch starts (and ends) with zeros.
inline int64_t sync_words(int64_t layers) { return layers * kPhasesPerLayer + 2; }

struct Params {
  const void* qkv_w;       // [L, (Hq + 2 Hk) D, H]
  const void* o_w;         // [L, H, Hq D]
  const void* gate_up_w;   // [L, 2 I, H]: I gate rows, then I up rows
  const void* down_w;      // [L, H, I]
  const void* norms;       // [L, 2, H]: input norm, post-attention norm
  const void* qk_norms;    // [L, 2, D] (q_norm, k_norm) or nullptr
  const void* final_norm;  // [H]
  const void* lm_head;     // [V, H]
  void* x;                 // [H]: the residual stream, in: the embedded token
  const float* cos;        // [R/2]
  const float* sin;        // [R/2]
  const int32_t* rows;     // [1]: the token's flat cache row (slot · C + position)
  const int32_t* seqs;     // [1, 4]: slot, q_start, q_len, kv_len
  void* kv;                // [L, 2, S·C, Hk, D]
  void* scratch;           // (Hq + 2 Hk) D + Hq D + I elements
  void* logits;            // [V]
  unsigned* sync;          // sync_words(L), zero on entry
  int layers = 0, hidden = 0, hq = 0, hk = 0, d = 0, inter = 0, vocab = 0, half = 0;
  int64_t cache_rows = 0;  // S · C
  float eps = 1e-6f, scale = 1.f;
};

// Blocks the launch uses: `limit` (0: one per SM) capped by what can be co-resident.
int grid_blocks(int limit, int* error_blocks_per_sm);
// Launches the step on `stream` with `blocks` co-resident blocks (cooperative launch unless
// KHUB_DECODE_STEP_COOPERATIVE=0). Returns the launch's error.
cudaError_t launch_decode_step(const Params& p, int blocks, cudaStream_t stream);

}  // namespace khub_decode_step
