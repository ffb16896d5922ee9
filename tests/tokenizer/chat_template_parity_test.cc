// Chat templates against transformers 5.17 apply_chat_template (goldens from
// scripts/golden/tokenizer_golden.py): the real Qwen3, Llama 3 and Gemma 3 templates, and a
// feature template (tests/tokenizer/data/jinja_features.jinja) that exercises the Jinja subset.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "test_data.h"
#include "tokenizer/auto_tokenizer.h"

namespace khub {
namespace {

using ojson = nlohmann::ordered_json;

ojson load_ordered(const std::string& path) {
  std::ifstream in(path);
  return ojson::parse(in);
}

ChatTemplateOptions options_for(const ojson& kwargs, const ojson& tools) {
  ChatTemplateOptions o;
  for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
    if (it.key() == "add_generation_prompt") {
      o.add_generation_prompt = it.value().get<bool>();
    } else if (it.key() == "tools") {
      if (it.value().get<bool>()) o.tools = tools;
    } else {
      o.extra[it.key()] = it.value();
    }
  }
  return o;
}

class ChatParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatParity, MatchesTransformers) {
  const std::string name = GetParam();
  KHUB_REQUIRE_TOKENIZER(name);
  auto tok = AutoTokenizer::from_pretrained(test::real_tokenizer_dir(name));
  ojson chat = load_ordered("tests/tokenizer/data/chat_conversations.json");
  ojson golden = load_ordered("tests/tokenizer/golden/chat.json");
  const ojson& cases = golden["tokenizers"][name]["cases"];
  ASSERT_EQ(cases.size(), chat["cases"].size());
  for (const auto& c : cases) {
    const ojson& messages = chat["conversations"][c["conversation"].get<std::string>()];
    ChatTemplateOptions o = options_for(c["kwargs"], chat["tools"]);
    std::string label = c["conversation"].get<std::string>() + " " + c["kwargs"].dump();
    if (c.contains("error")) {
      EXPECT_THROW(tok.apply_chat_template(messages, o), Error) << label;
      continue;
    }
    EXPECT_EQ(tok.apply_chat_template(messages, o), c["output"].get<std::string>()) << label;
  }
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, ChatParity, ::testing::Values("qwen3", "llama3", "gemma3"));

TEST(ChatTemplateFeatures, MatchesJinja) {
  std::ifstream in("tests/tokenizer/data/jinja_features.jinja");
  std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ChatTemplate tmpl(source);
  ojson chat = load_ordered("tests/tokenizer/data/chat_conversations.json");
  ojson golden = load_ordered("tests/tokenizer/golden/chat.json");
  ASSERT_EQ(golden["features"]["special_tokens_of"], "qwen3");
  for (const auto& c : golden["features"]["cases"]) {
    ojson vars = ojson::object();
    vars["eos_token"] = "<|im_end|>";  // qwen3's special tokens (bos_token is None there)
    vars["pad_token"] = "<|endoftext|>";
    vars["messages"] = chat["conversations"][c["conversation"].get<std::string>()];
    vars["tools"] = nullptr;
    vars["documents"] = nullptr;
    vars["add_generation_prompt"] = false;
    for (auto it = c["kwargs"].begin(); it != c["kwargs"].end(); ++it) {
      if (it.key() == "tools") {
        vars["tools"] = it.value().get<bool>() ? chat["tools"] : ojson(nullptr);
      } else {
        vars[it.key()] = it.value();
      }
    }
    std::string label = c["conversation"].get<std::string>() + " " + c["kwargs"].dump();
    if (c.contains("error")) {
      EXPECT_THROW(tmpl.render(vars), Error) << label;
      continue;
    }
    EXPECT_EQ(tmpl.render(vars), c["output"].get<std::string>()) << label;
  }
}

}  // namespace
}  // namespace khub
