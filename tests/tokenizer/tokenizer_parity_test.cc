// Parity with Hugging Face `tokenizers` 0.23.2 on the real Qwen3, Llama 3 and Gemma 3 tokenizers:
// exact ids with and without special tokens, and decode with and without skipping special tokens,
// for every text of tests/tokenizer/data/corpus.jsonl (goldens:
// scripts/golden/tokenizer_golden.py).
#include <gtest/gtest.h>

#include "test_data.h"
#include "tokenizer/tokenizer.h"

namespace khub {
namespace {

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, IdsAndDecodeMatchHuggingFace) {
  const std::string name = GetParam();
  KHUB_REQUIRE_TOKENIZER(name);
  auto tok = Tokenizer::from_file(test::real_tokenizer_dir(name) + "/tokenizer.json");
  auto corpus = test::read_jsonl("tests/tokenizer/data/corpus.jsonl");
  auto golden = test::read_jsonl("tests/tokenizer/golden/" + name + ".ids.jsonl");
  ASSERT_EQ(corpus.size(), golden.size());
  ASSERT_GE(corpus.size(), 300u);
  std::vector<std::string> texts;
  int failures = 0;
  for (size_t i = 0; i < corpus.size() && failures < 10; ++i) {
    std::string text = corpus[i].get<std::string>();
    texts.push_back(text);
    auto want = golden[i]["ids"].get<std::vector<int32_t>>();
    auto want_special = golden[i]["ids_special"].get<std::vector<int32_t>>();
    auto got = tok->encode(text, false);
    auto got_special = tok->encode(text, true);
    EXPECT_EQ(got, want) << name << " text #" << i << ": " << nlohmann::json(text).dump();
    EXPECT_EQ(got_special, want_special) << name << " text #" << i;
    EXPECT_EQ(tok->decode(want_special, false), golden[i]["decoded"].get<std::string>())
        << name << " text #" << i;
    EXPECT_EQ(tok->decode(want_special, true), golden[i]["decoded_skip"].get<std::string>())
        << name << " text #" << i;
    if (got != want || got_special != want_special) ++failures;
  }
  ASSERT_EQ(failures, 0);
  auto batch = tok->encode_batch(texts, false, 4);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    EXPECT_EQ(batch[i], golden[i]["ids"].get<std::vector<int32_t>>()) << "batch text #" << i;
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, Parity, ::testing::Values("qwen3", "llama3", "gemma3"));

}  // namespace
}  // namespace khub
