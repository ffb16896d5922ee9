// Fuzzes the chat-template engine: any source either fails to parse with khub::Error or renders
// (with a fixed conversation) to a string or a khub::Error; nothing else may escape or crash.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string source(reinterpret_cast<const char*>(data), size);
  static const nlohmann::ordered_json vars = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi 👍"},
                 {"role": "assistant", "content": "<think>x</think>ok",
                  "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}],
    "tools": [{"type": "function", "function": {"name": "f"}}], "add_generation_prompt": true,
    "bos_token": "<s>", "eos_token": "</s>"})");
  try {
    khub::ChatTemplate t(source);
    std::string out = t.render(vars);
    (void)out;
  } catch (const khub::Error&) {
  }
  return 0;
}
