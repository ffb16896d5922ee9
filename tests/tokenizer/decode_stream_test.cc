// Streaming decode on the real tokenizers: every piece is valid UTF-8, and the pieces joined equal
// HF's decode(ids, skip_special_tokens=True) for every corpus text (emoji split over several
// byte-level tokens, <0xNN> byte-fallback runs, CJK, combining marks...).
#include <gtest/gtest.h>

#include "test_data.h"
#include "tokenizer/decode_stream.h"
#include "tokenizer/unicode_text.h"

namespace khub {
namespace {

class Stream : public ::testing::TestWithParam<std::string> {};

TEST_P(Stream, PiecesAreValidUtf8AndJoinToTheFullDecode) {
  const std::string name = GetParam();
  KHUB_REQUIRE_TOKENIZER(name);
  auto tok = Tokenizer::from_file(test::real_tokenizer_dir(name) + "/tokenizer.json");
  auto golden = test::read_jsonl("tests/tokenizer/golden/" + name + ".ids.jsonl");
  DecodeStream stream(tok, /*skip_special_tokens=*/true);
  size_t held_back = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    auto ids = golden[i]["ids_special"].get<std::vector<int32_t>>();
    std::string joined;
    for (int32_t id : ids) {
      std::string piece = stream.step(id);
      if (piece.empty()) ++held_back;
      ASSERT_EQ(tok::utf8_find_invalid(piece), std::string::npos) << name << " text #" << i;
      joined += piece;
    }
    joined += stream.flush();
    EXPECT_EQ(joined, golden[i]["decoded_skip"].get<std::string>()) << name << " text #" << i;
  }
  EXPECT_GT(held_back, 0u);  // the corpus does split characters over several tokens
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, Stream, ::testing::Values("qwen3", "llama3", "gemma3"));

TEST(StreamUnit, HoldsIncompleteCharacters) {
  KHUB_REQUIRE_TOKENIZER("qwen3");
  auto tok = Tokenizer::from_file(test::real_tokenizer_dir("qwen3") + "/tokenizer.json");
  auto ids = tok->encode("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!", false);  // 👍🏽!
  ASSERT_GT(ids.size(), 2u);
  DecodeStream s(tok);
  std::string out;
  for (int32_t id : ids) {
    std::string piece = s.step(id);
    EXPECT_FALSE(tok::utf8_ends_incomplete(piece));
    out += piece;
  }
  EXPECT_EQ(out + s.flush(), "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!");
}

}  // namespace
}  // namespace khub
