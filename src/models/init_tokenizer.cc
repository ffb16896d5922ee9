// A byte-level tokenizer.json for `khub init-model` checkpoints (models/init_weights.h): every byte
// of UTF-8 text is one token (GPT-2's byte-to-character table, a BPE model with no merges), plus
// the config's special tokens. With it a model khub creates itself takes text prompts and trains
// on text files; it is what `tokenizers` loads as any ByteLevel BPE tokenizer.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/config.h"

namespace khub {
namespace {

// GPT-2's table: printable bytes stand for themselves, the other 68 take code points 256 + n.
std::string byte_char(int b) {
  bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  int cp = b;
  if (!printable) {
    int n = 0;
    for (int x = 0; x < b; ++x) {
      bool p = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      if (!p) ++n;
    }
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

// The byte tokens take ids [3, 259); 0 is <pad>, the config's bos and eos ids must be below 3 or
// at 259 and above (else no tokenizer is written: the null json).
nlohmann::json byte_level_tokenizer(const ModelConfig& c) {
  constexpr int64_t kFirstByte = 3;
  std::vector<int32_t> special = c.eos_token_ids;
  if (c.bos_token_id >= 0) special.push_back(c.bos_token_id);
  if (c.vocab_size < kFirstByte + 256) return nullptr;
  for (int32_t id : special) {
    if ((id >= kFirstByte && id < kFirstByte + 256) || id >= c.vocab_size) return nullptr;
  }
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = kFirstByte + b;
  nlohmann::json added = nlohmann::json::array();
  auto add_special = [&](int32_t id, const std::string& content) {
    for (const auto& a : added) {
      if (a["id"] == id) return;
    }
    added.push_back({{"id", id},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  };
  if (c.bos_token_id >= 0) add_special(c.bos_token_id, "<s>");
  for (size_t i = 0; i < c.eos_token_ids.size(); ++i) {
    add_special(c.eos_token_ids[i], i == 0 ? "</s>" : "</s" + std::to_string(i) + ">");
  }
  add_special(0, "<pad>");
  nlohmann::json byte_level = {{"type", "ByteLevel"},
                               {"add_prefix_space", false},
                               {"trim_offsets", true},
                               {"use_regex", true}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", byte_level},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", nlohmann::json::array()}}}};
}

}  // namespace khub
