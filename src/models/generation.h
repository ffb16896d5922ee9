// Generation over a batch of prompts of different lengths: one prefill forward for all prompts
// (each in its own KV-cache slot), then batched decode steps over the sequences still running.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "models/causal_lm.h"
#include "models/sampling.h"

namespace khub {

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  SamplingOptions sampling;
  uint64_t seed = 0;
  // Stop when a sequence emits one of these (the stop token is kept in the output). Empty
  // eos_token_ids means the model config's eos ids; ignore_eos disables them.
  std::vector<int32_t> eos_token_ids;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // Streaming: called for each new token of each sequence; return false to stop that sequence.
  std::function<bool(int64_t sequence, int32_t token)> on_token;
  // Greedy decoding (no sampling, no repetition penalty) can queue each decode step before the
  // host reads the previous step's picks (CausalLM::greedy_continue), so the device never waits
  // for the host; a sequence that stops costs one step of work that is thrown away. Default: on
  // where decode steps replay CUDA graphs (Mode Compile on CUDA: measured faster there), off
  // elsewhere (eager steps keep the host busy launching kernels; on the CPU nothing overlaps).
  std::optional<bool> lookahead;
};

struct GenerationResult {
  std::vector<std::vector<int32_t>> tokens;  // generated ids per prompt (prompt excluded)
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  int64_t decode_steps = 0;
  int64_t decode_tokens = 0;  // tokens produced by decode steps (excludes the prefill's token)
  double decode_tokens_per_second() const {
    return decode_seconds > 0 ? decode_tokens / decode_seconds : 0.0;
  }
};

GenerationResult generate(CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                          const GenerationOptions& options);

}  // namespace khub
