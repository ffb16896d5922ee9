#include "models/generation.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <random>

#include "core/host_readback.h"
#include "ops/indexing.h"

namespace khub {
namespace {

// The next decode step's chunks: each running sequence fed its last token.
std::vector<int64_t> live_chunks(const std::vector<bool>& running, const GenerationResult& result,
                                 std::vector<SequenceChunk>& chunks) {
  chunks.clear();
  std::vector<int64_t> live;
  for (size_t s = 0; s < running.size(); ++s) {
    if (!running[s]) continue;
    live.push_back(static_cast<int64_t>(s));
    chunks.push_back({static_cast<int64_t>(s), {result.tokens[s].back()}});
  }
  return live;
}

// Greedy decode steps with the host one step behind: step t + 1 is queued (fed step t's picks in
// device memory) before the host reads step t's picks, whenever step t + 1 would run the same
// sequences — none of them stopped yet, and none reaching max_new_tokens with step t's token.
// A sequence that stops at step t has its pick of step t + 1 thrown away; the steps after run
// from the host's tokens for the sequences left.
template <typename Emit>
void decode_ahead(CausalLM& model, KVCache& cache, int64_t max_new_tokens, Emit& emit,
                  std::vector<bool>& running, GenerationResult& result) {
  struct Queued {
    std::vector<int64_t> seqs;
    int buffer;
  };
  HostReadback picks[2];  // a step's picks land in one while the next step's are queued
  std::deque<Queued> queued;
  int next_buffer = 0;
  auto queue = [&](std::vector<int64_t> seqs, const Tensor& ids) {
    if (const int32_t* host = model.greedy_host_picks()) {
      picks[next_buffer].mark(ids.device(), host);  // the step stores them there itself
    } else {
      picks[next_buffer].start(ids);
    }
    queued.push_back({std::move(seqs), next_buffer});
    next_buffer ^= 1;
  };
  auto queue_from_host = [&] {
    std::vector<SequenceChunk> chunks;
    std::vector<int64_t> live = live_chunks(running, result, chunks);
    if (!live.empty()) queue(std::move(live), model.greedy_step(chunks, cache));
  };
  queue_from_host();
  while (!queued.empty()) {
    const Queued& front = queued.front();
    bool same_next = queued.size() == 1;
    for (int64_t s : front.seqs) {
      same_next = same_next && running[s] &&
                  static_cast<int64_t>(result.tokens[s].size()) + 2 <= max_new_tokens;
    }
    if (same_next) queue(front.seqs, model.greedy_continue(cache));
    const auto* ids = static_cast<const int32_t*>(picks[front.buffer].wait());
    ++result.decode_steps;
    for (size_t i = 0; i < front.seqs.size(); ++i) {
      int64_t s = front.seqs[i];
      if (!running[s]) continue;  // stopped by an earlier step: this pick is thrown away
      ++result.decode_tokens;
      running[s] = emit(s, ids[i]);
    }
    queued.pop_front();
    if (queued.empty()) queue_from_host();
  }
}

}  // namespace

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

  // Greedy decoding without a repetition penalty needs only each row's argmax: taken on the
  // model's device, so a step copies back one id per sequence instead of [rows, vocab] logits.
  const bool device_argmax = !opt.sampling.do_sample && opt.sampling.repetition_penalty == 1.0f;
  auto next_tokens = [&](const Tensor& logits, const std::vector<int64_t>& seqs) {
    std::vector<int32_t> out(seqs.size());
    if (device_argmax) {
      Tensor ids = ops::argmax_rows(logits).to(Device::cpu());
      std::copy(ids.data_as<int32_t>(), ids.data_as<int32_t>() + out.size(), out.begin());
      return out;
    }
    Tensor host = logits.to(Device::cpu());  // sampling runs on the host
    for (size_t i = 0; i < seqs.size(); ++i) {
      out[i] =
          sample_next(host.data_as<float>() + i * vocab, vocab, seen[seqs[i]], opt.sampling, rng);
    }
    return out;
  };

  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  std::vector<SequenceChunk> chunks;
  std::vector<int64_t> all(n);
  for (int64_t s = 0; s < n; ++s) {
    chunks.push_back({s, prompts[s]});
    all[s] = s;
  }
  std::vector<int32_t> first = next_tokens(model.forward(chunks, cache), all);
  for (int64_t s = 0; s < n; ++s) running[s] = emit(s, first[s]);
  auto t1 = clock::now();
  result.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

  if (device_argmax && opt.lookahead.value_or(model.decodes_with_graphs())) {
    decode_ahead(model, cache, opt.max_new_tokens, emit, running, result);
  }
  while (true) {  // the plain loop (after the look-ahead, nothing is left running)
    std::vector<int64_t> live = live_chunks(running, result, chunks);
    if (live.empty()) break;
    std::vector<int32_t> toks = next_tokens(model.forward(chunks, cache), live);
    ++result.decode_steps;
    for (size_t i = 0; i < live.size(); ++i) {
      ++result.decode_tokens;
      running[live[i]] = emit(live[i], toks[i]);
    }
  }
  result.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return result;
}

}  // namespace khub
