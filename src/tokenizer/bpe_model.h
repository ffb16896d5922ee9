// The BPE model of tokenizer.json ("model": {"type": "BPE"}): vocab, merges in either form
// (["a", "b"] pairs or "a b" strings), byte fallback (<0xNN> tokens), unk with fuse_unk,
// ignore_merges, continuing_subword_prefix and end_of_word_suffix. Dropout must be off (null or 0):
// khub's encoding is deterministic. Merging follows HF: repeatedly apply the lowest-ranked pair,
// leftmost first. Encoded words are cached (sharded, thread-safe).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"

namespace khub::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  BpeModel(const Json& j, const std::string& path);

  // Appends the ids of one pre-tokenized word.
  void encode_word(std::string_view word, std::vector<int32_t>* out) const;

  int32_t token_to_id(std::string_view token) const;  // -1 when absent
  const std::string* id_to_token(int32_t id) const;   // nullptr when absent
  size_t vocab_size() const { return id_to_token_.size(); }

 private:
  struct MergeValue {
    int32_t rank;
    int32_t new_id;
  };
  void merge_word(std::string_view word, std::vector<int32_t>* out) const;
  void add_merge(std::string_view a, std::string_view b, size_t rank, const std::string& path);

  TokenMap vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<uint64_t, MergeValue> merges_;
  std::string unk_token_;
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::string prefix_, suffix_;
  int32_t byte_ids_[256];  // ids of <0x00>..<0xFF>, -1 when absent

  static constexpr size_t kShards = 64;
  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kShardCapacity = 4096;
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  std::unique_ptr<Shard[]> cache_;
};

}  // namespace khub::tok
