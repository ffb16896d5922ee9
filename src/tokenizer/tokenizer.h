// khub's tokenizer: interprets a Hugging Face tokenizer.json (no per-model rules) and produces the
// ids HF `tokenizers` produces. Pipeline per input: added tokens are cut out first, every other
// piece is normalized, pre-tokenized and encoded by the BPE model; the post-processor adds special
// tokens on request. decode maps ids back to tokens and runs the decoder chain.
//
// Input text must be valid UTF-8: encode throws khub::Error(kInvalidArgument) naming the byte
// offset of the first invalid byte (no silent replacement). decode always returns valid UTF-8
// (invalid byte sequences produced by byte-level tokens become U+FFFD, as in HF).
//
// A Tokenizer is immutable after loading and safe to use from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace khub::tok {
class AddedVocabulary;
class BpeModel;
class Decoder;
class Normalizer;
class PostProcessor;
class PreTokenizer;
}  // namespace khub::tok

namespace khub {

class Tokenizer {
 public:
  // Throws khub::Error: kNotFound/kIo for the file, kFormat naming the field for bad content,
  // kUnsupported for a valid but unimplemented component (e.g. a Unigram model).
  static std::shared_ptr<const Tokenizer> from_file(const std::string& path);
  static std::shared_ptr<const Tokenizer> from_json(std::string_view json_text);
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Encodes many texts on `num_threads` threads (0: all hardware threads); results keep order.
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                 bool add_special_tokens = true,
                                                 int num_threads = 0) const;
  // Throws kInvalidArgument for an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  // One past the largest id (model vocabulary and added tokens).
  size_t vocab_size() const;

 private:
  Tokenizer();
  void encode_segment(std::string_view text, bool at_origin, std::vector<int32_t>* ids) const;
  void encode_normalized(std::string text, bool at_origin, std::vector<int32_t>* ids) const;

  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::PostProcessor> post_processor_;
  std::unique_ptr<tok::Decoder> decoder_;
  std::unique_ptr<tok::AddedVocabulary> added_;
};

}  // namespace khub
