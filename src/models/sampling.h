// Next-token selection: HF's logits processors and warpers in HF's order — repetition penalty,
// then temperature, top-k, top-p, min-p — and sampling from the result, or greedy argmax.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace khub {

struct SamplingOptions {
  bool do_sample = false;  // false: greedy
  float temperature = 1.0f;
  int64_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off
};

// Validates ranges; throws Error(kInvalidArgument) naming the option and its allowed range.
void validate_sampling(const SamplingOptions& o);

// Picks the next token from one row of logits. `seen` holds the ids the repetition penalty
// applies to (the prompt and the tokens generated so far). logits is modified in place.
int32_t sample_next(float* logits, int64_t vocab, const std::vector<int32_t>& seen,
                    const SamplingOptions& o, std::mt19937_64& rng);

}  // namespace khub
