// Chat templates: khub's engine for the Jinja subset that Hugging Face chat templates use
// (tokenizer_config.json "chat_template"), rendering what transformers' apply_chat_template
// renders. Supported: {{ }}, {% if/elif/else %}, {% for %} with loop.* (index, index0, revindex,
// revindex0, first, last, length, previtem, nextitem, cycle), for-else and for-if, break/continue,
// {% set %} (names, tuples, namespace attributes, blocks), {% macro %}, {% filter %}, {% raw %},
// {% generation %}, comments, whitespace control (-, +, trim_blocks, lstrip_blocks), Python-like
// operators, literals, slicing, string/dict methods, the common filters and tests, namespace(),
// range(), raise_exception() and strftime_now(). Anything else fails with the template line and
// column. Templates are parsed once; rendering is thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace khub {

namespace jinja {
struct Node;
}

class ChatTemplate {
 public:
  // Throws khub::Error(kFormat) "chat template line L, column C: ..." for unsupported syntax.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with the given variables (a JSON object: messages, tools, add_generation_prompt,
  // bos_token, ...). Errors in the template's logic (raise_exception, type errors) throw
  // khub::Error(kInvalidArgument) with the template position.
  std::string render(const nlohmann::ordered_json& variables) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace khub
