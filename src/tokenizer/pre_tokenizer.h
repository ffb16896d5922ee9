// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): Split (literal or regex, five delimiter
// behaviors, invert), ByteLevel, Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit and
// Sequence. Each one turns a list of pieces into a finer list; the model then encodes each piece.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace khub::tok {

struct Piece {
  std::string text;
  bool at_origin = false;  // starts at byte 0 of the original input (Metaspace "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `text` given the sorted, non-overlapping `matches` ([start, end) byte ranges), following
// HF's delimiter behavior; empty pieces are dropped. Appends to `out`.
void split_by_matches(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                      SplitBehavior behavior, bool invert, std::vector<Piece>* out);

// GPT-2's byte-to-character table: every byte maps to a printable code point (as UTF-8).
const std::string& byte_level_char(unsigned char b);
// The inverse; returns -1 for a code point outside the table.
int byte_level_byte(char32_t c);

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const std::string& path);

}  // namespace khub::tok
