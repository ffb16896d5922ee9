// Internal to models/: what causal_lm.cc and causal_lm_step.cc share about a step.
#pragma once

#include <memory>
#include <vector>

#include "core/cuda_graph.h"
#include "core/host_readback.h"
#include "models/causal_lm.h"

namespace khub {

// packed: ids [T] | positions [T] | cache rows (slot · capacity + position) [T] | seqs [N, 4]
// (slot, q_start, q_len, kv_len) | last row of each sequence [N].
struct CausalLM::StepInputs {
  int64_t tokens = 0;
  std::vector<int32_t> packed;
  std::vector<ops::AttentionSeq> seqs;
  std::vector<int64_t> positions;
  int64_t max_len = 0, max_q_len = 0;
  int64_t n() const { return static_cast<int64_t>(seqs.size()); }
  Tensor host() const {
    return Tensor::from_vector(packed, {static_cast<int64_t>(packed.size())}, DType::kI32);
  }
};

// One captured decode step: valid for N one-token sequences on a cache of this shape at this
// address (a graph bakes every address it touches; the cache is one allocation, so its base and
// shape fix every layer's rows).
struct CausalLM::DecodeGraph {
  int64_t n = 0, slots = 0, capacity = 0;
  bool greedy = false;  // ends in the argmax of each row, written over meta's ids (the next inputs)
  const void* cache = nullptr;  // KVCache::data(): every layer's rows sit at fixed offsets in it
  Tensor meta;  // the step's packed inputs on the device, refreshed before each replay
  // greedy: the argmax also stores the picks here (2 × n i32 in host memory, the half chosen by
  // the parity of the first sequence's position), so the host reads them with no copy between
  // two steps; a replay writes one half while the host reads the previous step's in the other.
  std::unique_ptr<MappedHostBuffer> picks_host;
  std::unique_ptr<CudaGraph> graph;
  Tensor logits;  // f32, written by every replay (not greedy)
};

}  // namespace khub
