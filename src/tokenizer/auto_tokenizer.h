// khub::AutoTokenizer: the tokenizer of a Hugging Face model directory, from tokenizer.json and
// tokenizer_config.json (special tokens, chat template; a chat_template.jinja or
// chat_template.json file next to them is used when the config has none).
//
//   auto tok = khub::AutoTokenizer::from_pretrained("models/qwen3-0.6b");
//   std::string prompt = tok.apply_chat_template(messages, {.add_generation_prompt = true,
//                                                 .extra = {{"enable_thinking", false}}});
//   std::vector<int32_t> ids = tok.encode(prompt, /*add_special_tokens=*/false);
//   khub::DecodeStream stream = tok.decode_stream();
//   for (int32_t id : generated) std::cout << stream.step(id) << std::flush;
//   std::cout << stream.flush();
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/decode_stream.h"
#include "tokenizer/tokenizer.h"

namespace khub {

struct ChatTemplateOptions {
  bool add_generation_prompt = false;
  // A list of tool schemas (JSON objects as transformers takes them), or null for none.
  nlohmann::ordered_json tools = nullptr;
  nlohmann::ordered_json documents = nullptr;
  // Further template variables, e.g. {"enable_thinking": false}; they override the defaults.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  // For configs with several named templates: which one ("" picks "tool_use" when tools are given
  // and that template exists, else "default").
  std::string template_name;
};

class AutoTokenizer {
 public:
  // Throws khub::Error (kNotFound when the directory has no tokenizer.json, kFormat for bad files).
  static AutoTokenizer from_pretrained(const std::string& dir);

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const {
    return tokenizer_->encode(text, add_special_tokens);
  }
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const {
    return tokenizer_->decode(ids, skip_special_tokens);
  }
  DecodeStream decode_stream(bool skip_special_tokens = true) const {
    return DecodeStream(tokenizer_, skip_special_tokens);
  }

  // The prompt string transformers' apply_chat_template(messages, tokenize=False, ...) renders.
  // `messages` is a JSON array of {"role": ..., "content": ...} objects (content may be a list of
  // parts; tool_calls and other fields pass through to the template).
  std::string apply_chat_template(const nlohmann::ordered_json& messages,
                                  const ChatTemplateOptions& options = {}) const;
  // The same, tokenized as transformers does for tokenize=True (no extra special tokens).
  std::vector<int32_t> apply_chat_template_ids(const nlohmann::ordered_json& messages,
                                               const ChatTemplateOptions& options = {}) const;
  bool has_chat_template() const { return !templates_.empty(); }

  const std::shared_ptr<const Tokenizer>& tokenizer() const { return tokenizer_; }
  // Special tokens from tokenizer_config.json (nullopt when not set).
  const std::optional<std::string>& bos_token() const { return bos_token_; }
  const std::optional<std::string>& eos_token() const { return eos_token_; }
  std::optional<int32_t> bos_token_id() const;
  std::optional<int32_t> eos_token_id() const;

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::vector<std::pair<std::string, std::shared_ptr<const ChatTemplate>>> templates_;
  nlohmann::ordered_json special_vars_ = nlohmann::ordered_json::object();
  std::optional<std::string> bos_token_, eos_token_;
};

}  // namespace khub
