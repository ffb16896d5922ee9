// Unit tests of the tokenizer components that the three real tokenizers do not exercise, of the
// documented error behaviour, and of the chat-template engine's errors. Expected values follow the
// semantics of HF `tokenizers` (each case states the rule it checks).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_text.h"

namespace khub {
namespace {

using nlohmann::json;

// A char-level BPE over a small vocab with the given components.
json small_tokenizer(json normalizer, json pre_tokenizer, json decoder, json vocab, json merges,
                     json extra_model = json::object()) {
  json model = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  for (auto& [k, v] : extra_model.items()) model[k] = v;
  return {{"version", "1.0"},
          {"normalizer", normalizer},
          {"pre_tokenizer", pre_tokenizer},
          {"post_processor", nullptr},
          {"decoder", decoder},
          {"model", model},
          {"added_tokens", json::array()}};
}

json letters_vocab() {
  json v = json::object();
  int id = 0;
  for (const char* t : {"a", "b", "c", "d", " ", "\xE2\x96\x81", "ab",
                        "\xE2\x96\x81"
                        "a",
                        "1", "2", "3", "!", ",", "<unk>", "cd", "A", "B"})
    v[t] = id++;
  return v;
}

std::string expect_error(const std::string& text, ErrorKind kind) {
  try {
    Tokenizer::from_json(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << text.substr(0, 200);
  return "";
}

TEST(TokenizerErrors, MalformedFilesNameTheField) {
  json base = small_tokenizer(nullptr, nullptr, nullptr, letters_vocab(), json::array());
  json j = base;
  j.erase("model");
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("model"), std::string::npos);
  j = base;
  j["model"]["type"] = "Frobnicate";
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("model.type"), std::string::npos);
  j = base;
  j["model"]["type"] = "Unigram";
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kUnsupported).find("Unigram"), std::string::npos);
  j = base;
  j["model"]["merges"] = json::array({"a b", "a"});
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("model.merges[1]"), std::string::npos);
  j = base;
  j["model"]["merges"] = json::array({json::array({"a", "zz"})});
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("\"zz\" is not in the vocab"),
            std::string::npos);
  j = base;
  j["model"]["merges"] = json::array({"c b"});  // "cb" is not in the vocab
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("merged token \"cb\""),
            std::string::npos);
  j = base;
  j["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("pre_tokenizer.pattern"),
            std::string::npos);
  j = base;
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Nope"}}}}};
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("normalizer.normalizers[0].type"),
            std::string::npos);
  j = base;
  j["decoder"] = {{"type", "Strip"}, {"content", " "}, {"start", "x"}};
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("decoder.start"), std::string::npos);
  j = base;
  j["model"]["dropout"] = 0.1;
  EXPECT_NE(expect_error(j.dump(), ErrorKind::kFormat).find("dropout"), std::string::npos);
  EXPECT_NE(expect_error("{not json", ErrorKind::kFormat).find("not valid JSON"),
            std::string::npos);
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/tokenizer.json"), Error);
}

TEST(TokenizerErrors, InvalidUtf8IsAnErrorNamingTheOffset) {
  auto tok = Tokenizer::from_json(
      small_tokenizer(nullptr, nullptr, nullptr, letters_vocab(), json::array()).dump());
  try {
    tok->encode(std::string("ab\xC3(", 4), false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("byte offset 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok->encode("\xED\xA0\x80", false), Error);      // surrogate
  EXPECT_THROW(tok->encode("\xC0\xAF", false), Error);          // overlong
  EXPECT_THROW(tok->encode("\xF4\x90\x80\x80", false), Error);  // above U+10FFFF
  EXPECT_THROW(tok->decode(std::vector<int32_t>{999}, false), Error);
}

TEST(Utf8, LossyDecodingFollowsMaximalSubparts) {
  // Rust's from_utf8_lossy: one U+FFFD per maximal invalid subpart.
  EXPECT_EQ(tok::utf8_lossy("a\xE2\x82"), "a\xEF\xBF\xBD");
  EXPECT_EQ(tok::utf8_lossy("\xE2\x82(\xFF"), "\xEF\xBF\xBD(\xEF\xBF\xBD");
  EXPECT_EQ(tok::utf8_lossy("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(tok::utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(tok::utf8_ends_incomplete("a\xF0\x9F\x98"));
  EXPECT_FALSE(tok::utf8_ends_incomplete("a\xF0\x9F\x98\x80"));
}

TEST(Regex, OnigurumaClassesAreTranslated) {
  EXPECT_EQ(tok::Regex::translate("\\s+(?!\\S)"),
            "[\\t-\\r\\x{85}\\p{Z}]+(?![^\\t-\\r\\x{85}\\p{Z}])");
  EXPECT_EQ(tok::Regex::translate("[^\\s\\p{L}]"), "[^\\t-\\r\\x{85}\\p{Z}\\p{L}]");
  tok::Regex r("\\s+", "test");
  std::vector<std::pair<size_t, size_t>> m;
  r.find_all(
      "a\xC2\x85"
      "b\xE3\x80\x80"
      "c",
      &m);  // NEL and ideographic space are \s in Onig
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], std::make_pair(size_t{1}, size_t{3}));
}

TEST(Components, MetaspaceAndDecoder) {
  // Metaspace: spaces become U+2581, prepended (scheme "always"), split before each U+2581.
  json ms = {{"type", "Metaspace"},
             {"replacement", "\xE2\x96\x81"},
             {"prepend_scheme", "always"},
             {"split", true}};
  auto tok = Tokenizer::from_json(
      small_tokenizer(nullptr, ms, ms, letters_vocab(), json::array({"\xE2\x96\x81 a"})).dump());
  auto ids = tok->encode("a b", false);
  EXPECT_EQ(ids, (std::vector<int32_t>{7, 5, 1}));  // "▁a", "▁", "b"
  EXPECT_EQ(tok->decode(ids, false), "a b");        // the decoder strips the prepended space
}

TEST(Components, SplitBehaviorsDigitsPunctuationWhitespace) {
  auto encode_with = [](json pre) {
    auto tok = Tokenizer::from_json(
        small_tokenizer(nullptr, pre, nullptr, letters_vocab(), json::array({"a b"})).dump());
    return tok->encode("ab12,cd!", false);
  };
  // Digits(individual): "ab" "1" "2" ",cd!" -> the merge a+b applies inside "ab".
  EXPECT_EQ(encode_with({{"type", "Digits"}, {"individual_digits", true}}),
            (std::vector<int32_t>{6, 8, 9, 12, 2, 3, 11}));
  // Punctuation isolated; words unchanged.
  EXPECT_EQ(encode_with({{"type", "Punctuation"}}), (std::vector<int32_t>{6, 8, 9, 12, 2, 3, 11}));
  // Split on "1" merged with the previous piece: "ab1" "2,cd!" (still the same ids here).
  EXPECT_EQ(
      encode_with({{"type", "Split"}, {"pattern", {{"String", "1"}}}, {"behavior", "Removed"}}),
      (std::vector<int32_t>{6, 9, 12, 2, 3, 11}));
  // Whitespace = \w+|[^\w\s]+ kept: "ab12" ",", "cd", "!" with the removed parts dropped.
  auto tok = Tokenizer::from_json(small_tokenizer(nullptr, {{"type", "Whitespace"}}, nullptr,
                                                  letters_vocab(), json::array({"a b"}))
                                      .dump());
  EXPECT_EQ(tok->encode("ab  cd", false), (std::vector<int32_t>{6, 2, 3}));
  // Invert: the regex matches are the pieces, the rest is removed.
  auto inv = Tokenizer::from_json(small_tokenizer(nullptr,
                                                  {{"type", "Split"},
                                                   {"pattern", {{"Regex", "[a-d]+"}}},
                                                   {"behavior", "Removed"},
                                                   {"invert", true}},
                                                  nullptr, letters_vocab(), json::array({"a b"}))
                                      .dump());
  EXPECT_EQ(inv->encode("ab!cd", false), (std::vector<int32_t>{6, 2, 3}));
}

TEST(Components, NormalizersAndByteFallbackUnk) {
  json norm = {{"type", "Sequence"},
               {"normalizers",
                {{{"type", "NFKC"}},
                 {{"type", "Lowercase"}},
                 {{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                 {{"type", "Replace"}, {"pattern", {{"Regex", "b+"}}}, {"content", "b"}},
                 {{"type", "Prepend"}, {"prepend", "a"}}}}};
  auto tok = Tokenizer::from_json(
      small_tokenizer(norm, nullptr, nullptr, letters_vocab(), json::array({"a b"})).dump());
  // "  ＢBB " -> NFKC "  BBB " -> lower -> strip "bbb" -> "b" -> "ab" -> merged.
  EXPECT_EQ(tok->encode("  \xEF\xBC\xA2"
                        "BB ",
                        false),
            (std::vector<int32_t>{6}));

  // Unknown characters: fused into one <unk> when fuse_unk.
  auto unk = Tokenizer::from_json(small_tokenizer(nullptr, nullptr, nullptr, letters_vocab(),
                                                  json::array(),
                                                  {{"unk_token", "<unk>"}, {"fuse_unk", true}})
                                      .dump());
  EXPECT_EQ(unk->encode("axyzb", false), (std::vector<int32_t>{0, 13, 1}));
  // Without an unk token HF drops unknown characters.
  auto drop = Tokenizer::from_json(
      small_tokenizer(nullptr, nullptr, nullptr, letters_vocab(), json::array()).dump());
  EXPECT_EQ(drop->encode("axb", false), (std::vector<int32_t>{0, 1}));
}

TEST(Components, AddedTokenFlags) {
  json j = small_tokenizer(nullptr, nullptr, nullptr, letters_vocab(), json::array());
  j["added_tokens"] = {{{"id", 20},
                        {"content", "<x>"},
                        {"special", true},
                        {"lstrip", true},
                        {"rstrip", true},
                        {"single_word", false},
                        {"normalized", false}},
                       {{"id", 21},
                        {"content", "ab"},
                        {"special", false},
                        {"lstrip", false},
                        {"rstrip", false},
                        {"single_word", true},
                        {"normalized", false}}};
  auto tok = Tokenizer::from_json(j.dump());
  // lstrip/rstrip: the spaces around <x> belong to the added token.
  EXPECT_EQ(tok->encode("a <x> b", false), (std::vector<int32_t>{0, 20, 1}));
  // single_word: "ab" inside "cab" is not a match; standalone ones are.
  EXPECT_EQ(tok->encode("ab cab ab", false), (std::vector<int32_t>{21, 4, 2, 0, 1, 4, 21}));
  // Without a decoder HF joins the tokens with spaces; the special token is skipped.
  EXPECT_EQ(tok->decode(std::vector<int32_t>{0, 20, 1}, true), "a b");
  EXPECT_TRUE(tok->is_special(20));
  EXPECT_FALSE(tok->is_special(21));

  // normalized=true tokens are matched after the normalizer, with their content normalized too.
  json n =
      small_tokenizer({{"type", "Lowercase"}}, nullptr, nullptr, letters_vocab(), json::array());
  n["added_tokens"] = {{{"id", 22},
                        {"content", "CD"},
                        {"special", false},
                        {"lstrip", false},
                        {"rstrip", false},
                        {"single_word", false},
                        {"normalized", true}}};
  EXPECT_EQ(Tokenizer::from_json(n.dump())->encode("aCDb", false),
            (std::vector<int32_t>{0, 22, 1}));
}

TEST(Components, DecodersStripReplaceFuse) {
  json dec = {{"type", "Sequence"},
              {"decoders",
               {{{"type", "Replace"}, {"pattern", {{"String", "a"}}}, {"content", "A"}},
                {{"type", "Fuse"}},
                {{"type", "Strip"}, {"content", "A"}, {"start", 1}, {"stop", 1}}}}};
  auto tok = Tokenizer::from_json(
      small_tokenizer(nullptr, nullptr, dec, letters_vocab(), json::array()).dump());
  // a a b a -> Replace: A A b A -> Fuse: "AAbA" -> Strip one 'A' at each end: "AbA"[1..] = "Ab".
  EXPECT_EQ(tok->decode(std::vector<int32_t>{0, 0, 1, 0}, false), "Ab");
}

TEST(ChatTemplateErrors, UnknownConstructsNameLineAndColumn) {
  auto message = [](const std::string& src) -> std::string {
    try {
      ChatTemplate t(src);
      t.render(nlohmann::ordered_json::object());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message("hello\n  {% frobnicate %}").find("line 2, column 3"), std::string::npos);
  EXPECT_NE(message("{{ x | nosuchfilter }}").find("line 1, column 8: unknown filter"),
            std::string::npos);
  EXPECT_NE(message("{% if x is wobbly %}{% endif %}").find("unknown test 'wobbly'"),
            std::string::npos);
  EXPECT_NE(message("{% if true %}never closed").find("or {% endif %}"), std::string::npos);
  EXPECT_NE(message("{{ 'unterminated }}").find("unterminated string"), std::string::npos);
  EXPECT_NE(message("\n\n{{ raise_exception('bad role') }}").find("line 3, column 4"),
            std::string::npos);
  EXPECT_NE(message("{{ raise_exception('bad role') }}").find("bad role"), std::string::npos);
  EXPECT_NE(message("{{ missing.attr }}").find("'missing' is undefined"), std::string::npos);
  // Hostile templates fail cleanly instead of exhausting the stack or memory.
  EXPECT_NE(message("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}")
                .find("nested too deeply"),
            std::string::npos);
  std::string deep_ifs;
  for (int i = 0; i < 500; ++i) deep_ifs += "{% if true %}";
  EXPECT_NE(message(deep_ifs).find("nested too deeply"), std::string::npos);
  EXPECT_NE(message("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(message("{% for i in range(1000000000) %}{% endfor %}").find("range() too large"),
            std::string::npos);
  EXPECT_NE(message("{{ 9223372036854775807 + 1 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(message("{{ (1e300 * 1e300) | int }}").find("cannot convert float inf"),
            std::string::npos);
}

}  // namespace
}  // namespace khub
