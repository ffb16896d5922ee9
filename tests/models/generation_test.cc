#include <gtest/gtest.h>

#include <filesystem>

#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

class Generation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("khub_gen_" + std::to_string(getpid()));
    InitModelOptions o{.arch = "qwen3", .preset = "tiny", .seed = 3};
    write_random_checkpoint(o, dir_.string());
    model_ = CausalLM::from_pretrained(dir_.string()).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(dir_);
  }
  static inline fs::path dir_;
  static inline CausalLM* model_ = nullptr;
};

TEST_F(Generation, BatchOfDifferentLengthsEqualsOneByOne) {
  std::vector<std::vector<int32_t>> prompts = {{5, 6, 7, 8, 9, 10, 11}, {3}, {40, 41, 42}};
  GenerationOptions g;
  g.max_new_tokens = 10;
  g.ignore_eos = true;
  GenerationResult batch = generate(*model_, prompts, g);
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationResult one = generate(*model_, {prompts[i]}, g);
    EXPECT_EQ(batch.tokens[i], one.tokens[0]) << i;
    EXPECT_EQ(one.tokens[0].size(), 10u);
  }
}

TEST_F(Generation, IncrementalDecodeMatchesFullRecompute) {
  std::vector<int32_t> seq = {1, 2, 3, 4, 5, 6, 7, 8};
  KVCache full = model_->make_cache(1, 8);
  Tensor all = model_->forward({{0, seq}}, full, true);
  KVCache inc = model_->make_cache(1, 8);
  model_->forward({{0, {1, 2, 3, 4, 5}}}, inc);
  model_->forward({{0, {6, 7}}}, inc);
  Tensor last = model_->forward({{0, {8}}}, inc);
  std::vector<float> a = all.select(0, 7).to_float_vector(), b = last.to_float_vector();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4) << i;
  EXPECT_THROW(model_->forward({{0, {9}}}, inc), Error);  // the cache is full; never grown
}

TEST_F(Generation, SamplingIsReproducibleAndTopK1IsGreedy) {
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.ignore_eos = true;
  GenerationResult greedy = generate(*model_, {{9, 8, 7}}, g);
  g.sampling.do_sample = true;
  g.sampling.temperature = 1.5f;
  g.seed = 42;
  GenerationResult s1 = generate(*model_, {{9, 8, 7}}, g);
  GenerationResult s2 = generate(*model_, {{9, 8, 7}}, g);
  EXPECT_EQ(s1.tokens, s2.tokens);
  g.seed = 43;
  GenerationResult s3 = generate(*model_, {{9, 8, 7}}, g);
  EXPECT_NE(s1.tokens, s3.tokens);  // 12 tokens at temperature 1.5 over 256 ids
  g.sampling.top_k = 1;
  EXPECT_EQ(generate(*model_, {{9, 8, 7}}, g).tokens, greedy.tokens);
  g.sampling.top_k = 0;
  g.sampling.top_p = 1e-6f;  // keeps only the most likely token
  EXPECT_EQ(generate(*model_, {{9, 8, 7}}, g).tokens, greedy.tokens);
  g.sampling.top_p = 1.0f;
  g.sampling.min_p = 1.0f;  // keeps only tokens as likely as the top one
  EXPECT_EQ(generate(*model_, {{9, 8, 7}}, g).tokens, greedy.tokens);
}

TEST_F(Generation, StopTokensStreamingAndPenalty) {
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.ignore_eos = true;
  GenerationResult base = generate(*model_, {{4, 4, 4}}, g);
  int32_t stop = base.tokens[0][3];
  g.stop_token_ids = {stop};
  GenerationResult stopped = generate(*model_, {{4, 4, 4}}, g);
  auto first = std::find(base.tokens[0].begin(), base.tokens[0].end(), stop);
  EXPECT_EQ(stopped.tokens[0].size(), static_cast<size_t>(first - base.tokens[0].begin()) + 1);
  EXPECT_EQ(stopped.tokens[0].back(), stop);

  std::vector<int32_t> streamed;
  g.stop_token_ids.clear();
  g.on_token = [&](int64_t seq, int32_t tok) {
    streamed.push_back(tok);
    return streamed.size() < 5;  // the callback can stop a sequence
  };
  GenerationResult s = generate(*model_, {{4, 4, 4}}, g);
  EXPECT_EQ(streamed, s.tokens[0]);
  EXPECT_EQ(s.tokens[0].size(), 5u);

  g.on_token = nullptr;
  g.sampling.repetition_penalty = 1000.0f;  // no token may repeat while others remain
  GenerationResult p = generate(*model_, {{4}}, g);
  std::vector<int32_t> all = p.tokens[0];
  all.push_back(4);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

// Greedy look-ahead (each step queued before the previous step's picks are read) gives the tokens
// and counts of the plain loop: a batch of three running to max_new_tokens, one sequence stopping
// at a stop token mid-way (its pick of the step queued behind is thrown away), one stopped by the
// streaming callback, and the smallest budgets.
TEST_F(Generation, LookaheadGivesThePlainLoopsTokens) {
  std::vector<std::vector<int32_t>> prompts = {{5, 6, 7, 8, 9}, {3}, {40, 41, 42}};
  std::vector<std::vector<int32_t>> streamed(prompts.size());
  auto both = [&](GenerationOptions g, const std::string& what) {
    g.lookahead = false;
    streamed.assign(prompts.size(), {});
    GenerationResult plain = generate(*model_, prompts, g);
    g.lookahead = true;
    streamed.assign(prompts.size(), {});
    GenerationResult ahead = generate(*model_, prompts, g);
    EXPECT_EQ(ahead.tokens, plain.tokens) << what;
    EXPECT_EQ(ahead.decode_tokens, plain.decode_tokens) << what;
    return plain;
  };
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.ignore_eos = true;
  GenerationResult base = both(g, "to max_new_tokens");
  for (const auto& t : base.tokens) ASSERT_EQ(t.size(), 12u);
  // A stop token that sequence 1 emits 5th and no other sequence emits before it.
  int32_t stop = base.tokens[1][4];
  g.stop_token_ids = {stop};
  GenerationResult stopped = both(g, "stop token " + std::to_string(stop));
  EXPECT_LE(stopped.tokens[1].size(), 5u);
  EXPECT_EQ(stopped.tokens[1].back(), stop);
  g.stop_token_ids.clear();
  g.on_token = [&](int64_t seq, int32_t tok) {
    streamed[seq].push_back(tok);
    return !(seq == 2 && streamed[seq].size() == 3);
  };
  GenerationResult cb = both(g, "streaming callback");
  EXPECT_EQ(cb.tokens[2].size(), 3u);
  EXPECT_EQ(streamed, cb.tokens);  // the look-ahead run's stream: every kept token, in order
  EXPECT_EQ(cb.tokens[0].size(), 12u);
  g.on_token = nullptr;
  for (int64_t n : {1, 2, 3}) {
    g.max_new_tokens = n;
    both(g, "max_new_tokens " + std::to_string(n));
  }
  // The steps themselves: continuing needs a greedy step on that cache, and one token per chunk.
  KVCache other = model_->make_cache(1, 8);
  EXPECT_THROW(model_->greedy_continue(other), Error);
  EXPECT_THROW(model_->greedy_step({{0, {1, 2}}}, other), Error);
}

TEST_F(Generation, BadOptionsAreErrors) {
  GenerationOptions g;
  g.sampling.temperature = 0;
  EXPECT_THROW(generate(*model_, {{1}}, g), Error);
  g = {};
  EXPECT_THROW(generate(*model_, {{}}, g), Error);
  EXPECT_THROW(generate(*model_, {{300}}, g), Error);  // outside the 256-token vocabulary
}

// A bad step is refused before anything runs: the cache is left as it was.
TEST_F(Generation, BadStepsAreErrorsThatLeaveTheCacheAlone) {
  KVCache cache = model_->make_cache(2, 4);
  model_->forward({{0, {1, 2}}}, cache);
  auto refused = [&](const std::vector<SequenceChunk>& chunks, const std::string& words) {
    try {
      model_->forward(chunks, cache);
      ADD_FAILURE() << "accepted a step that should fail with '" << words << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    EXPECT_EQ(cache.length(0), 2);
    EXPECT_EQ(cache.length(1), 0);
  };
  refused({{0, {3}}, {0, {4}}}, "appears twice");
  refused({{0, {3, 4, 5}}}, "beyond its capacity");
  refused({{1, {7, 256}}}, "outside the vocabulary");
  refused({{2, {1}}}, "outside the cache");
  refused({{1, {}}}, "empty sequence chunk");
  refused({}, "no sequence chunks");
}

}  // namespace
}  // namespace khub
