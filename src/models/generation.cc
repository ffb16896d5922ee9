#include "models/generation.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace khub {

GenerationResult generate(CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                          const GenerationOptions& opt) {
  KHUB_CHECK_ARG(!prompts.empty(), "generate: no prompts");
  KHUB_CHECK_ARG(opt.max_new_tokens >= 0, "max_new_tokens ", opt.max_new_tokens, " must be >= 0");
  validate_sampling(opt.sampling);
  int64_t n = static_cast<int64_t>(prompts.size());
  int64_t longest = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    KHUB_CHECK_ARG(!prompts[i].empty(), "generate: prompt ", i, " is empty");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(prompts[i].size()));
  }
  std::vector<int32_t> stops = opt.stop_token_ids;
  if (!opt.ignore_eos) {
    const auto& eos = opt.eos_token_ids.empty() ? model.config().eos_token_ids : opt.eos_token_ids;
    stops.insert(stops.end(), eos.begin(), eos.end());
  }
  GenerationResult result;
  result.tokens.resize(n);
  if (opt.max_new_tokens == 0) return result;

  KVCache cache = model.make_cache(n, longest + opt.max_new_tokens);
  std::mt19937_64 rng(opt.seed);
  std::vector<std::vector<int32_t>> seen(prompts.begin(), prompts.end());
  std::vector<bool> running(n, true);
  int64_t vocab = model.config().vocab_size;

  // Returns false when sequence s is finished after emitting token.
  auto emit = [&](int64_t s, int32_t token) {
    result.tokens[s].push_back(token);
    seen[s].push_back(token);
    bool go = !opt.on_token || opt.on_token(s, token);
    bool stop = std::find(stops.begin(), stops.end(), token) != stops.end();
    return go && !stop && static_cast<int64_t>(result.tokens[s].size()) < opt.max_new_tokens;
  };

  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  std::vector<SequenceChunk> chunks;
  for (int64_t s = 0; s < n; ++s) chunks.push_back({s, prompts[s]});
  Tensor logits = model.forward(chunks, cache);
  for (int64_t s = 0; s < n; ++s) {
    int32_t tok =
        sample_next(logits.data_as<float>() + s * vocab, vocab, seen[s], opt.sampling, rng);
    running[s] = emit(s, tok);
  }
  auto t1 = clock::now();
  result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

  while (true) {
    chunks.clear();
    std::vector<int64_t> live;
    for (int64_t s = 0; s < n; ++s) {
      if (!running[s]) continue;
      live.push_back(s);
      chunks.push_back({s, {result.tokens[s].back()}});
    }
    if (live.empty()) break;
    logits = model.forward(chunks, cache);
    ++result.decode_steps;
    for (size_t i = 0; i < live.size(); ++i) {
      int64_t s = live[i];
      int32_t tok =
          sample_next(logits.data_as<float>() + i * vocab, vocab, seen[s], opt.sampling, rng);
      ++result.decode_tokens;
      running[s] = emit(s, tok);
    }
  }
  result.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return result;
}

}  // namespace khub
