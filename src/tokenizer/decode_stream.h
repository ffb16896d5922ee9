// Incremental decoding for streaming generation: feed ids one at a time and get back only text
// that is final. Text is held back while the decoded tail ends in an incomplete UTF-8 sequence
// (a multi-byte character split over several byte-level or <0xNN> tokens), so the pieces never
// contain broken UTF-8 and their concatenation equals decode(all ids) once flush() is called.
//
// Each step decodes a short window of already-emitted ids plus the pending ones, so decoders
// whose output depends on context (Metaspace's leading space, ByteFallback runs) behave as in a
// full decode. Cost per step is O(window), independent of the stream length.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace khub {

class DecodeStream {
 public:
  explicit DecodeStream(std::shared_ptr<const Tokenizer> tokenizer,
                        bool skip_special_tokens = true);

  // Returns the text completed by this id (often empty while a character is incomplete).
  std::string step(int32_t id);
  // Returns whatever is still held back (with U+FFFD for bytes that never completed) and resets.
  std::string flush();
  void reset();

 private:
  static constexpr size_t kContextIds = 4;
  std::shared_ptr<const Tokenizer> tok_;
  bool skip_special_;
  std::vector<int32_t> context_;  // last emitted ids
  std::string context_text_;      // decode(context_)
  std::vector<int32_t> pending_;
};

}  // namespace khub
