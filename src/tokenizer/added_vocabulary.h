// Added tokens of tokenizer.json ("added_tokens"): found in the input before anything else runs,
// leftmost-longest, with HF's single_word / lstrip / rstrip rules. Tokens with normalized=false are
// matched on the raw input; tokens with normalized=true on the normalized text (their content is
// normalized too). Special-token strings are always recognized in the input, as in HF.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"

namespace khub::tok {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = false;
};

// A byte range of the input and the added token it is (-1: ordinary text).
struct Segment {
  size_t start, end;
  int32_t id;
};

class AddedVocabulary {
 public:
  AddedVocabulary(const Json& added_tokens, const std::string& path, const Normalizer* normalizer);

  // Splits `text` at the added tokens of one trie (raw: normalized=false tokens).
  void split(std::string_view text, bool normalized_tokens, std::vector<Segment>* out) const;
  bool has_normalized_tokens() const { return !tries_[1].nodes.empty(); }

  const AddedToken* find_id(int32_t id) const;
  const AddedToken* find_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> next;  // sorted by byte
    int32_t token = -1;                                   // index into tokens_
  };
  struct Trie {
    std::vector<Node> nodes;  // nodes[0] is the root when not empty
    bool first_byte[256] = {};
  };
  void insert(Trie& trie, std::string_view key, int32_t token);
  // Longest token starting at text[i]: its index, or -1; *len receives its byte length.
  int32_t longest_at(const Trie& trie, std::string_view text, size_t i, size_t* len) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  Trie tries_[2];
};

}  // namespace khub::tok
