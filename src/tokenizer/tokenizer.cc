#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_text.h"

namespace khub {

using tok::Json;

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

std::shared_ptr<const Tokenizer> Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "cannot open tokenizer file '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(ErrorKind::kIo, "cannot read tokenizer file '", path, "'");
  try {
    return from_json(ss.str());
  } catch (const Error& e) {
    throw Error(e.kind(), path + ": " + e.what());
  }
}

std::shared_ptr<const Tokenizer> Tokenizer::from_json(std::string_view text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) fail(ErrorKind::kFormat, "tokenizer.json: not valid JSON");
  if (!j.is_object()) fail(ErrorKind::kFormat, "tokenizer.json: expected a JSON object");
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  t->normalizer_ = tok::make_normalizer(j.value("normalizer", Json()), "normalizer");
  t->pre_tokenizer_ = tok::make_pre_tokenizer(j.value("pre_tokenizer", Json()), "pre_tokenizer");
  if (!j.contains("model") || j["model"].is_null())
    tok::json_fail("model", "missing (expected {\"type\": \"BPE\", ...})");
  const Json& model = j["model"];
  if (!model.is_object()) tok::json_fail("model", "expected an object");
  std::string type = model.contains("type") ? tok::json_type(model, "model") : "BPE";
  if (type != "BPE") {
    if (type == "WordPiece" || type == "Unigram" || type == "WordLevel")
      fail(ErrorKind::kUnsupported, "tokenizer.json: model.type: '", type,
           "' models are not supported yet (supported: BPE)");
    tok::json_fail("model.type", "unknown model type '" + type + "' (supported: BPE)");
  }
  t->model_ = std::make_unique<tok::BpeModel>(model, "model");
  t->post_processor_ =
      tok::make_post_processor(j.value("post_processor", Json()), "post_processor");
  t->decoder_ = tok::make_decoder(j.value("decoder", Json()), "decoder");
  t->added_ = std::make_unique<tok::AddedVocabulary>(j.value("added_tokens", Json()),
                                                     "added_tokens", t->normalizer_.get());
  return t;
}

void Tokenizer::encode_normalized(std::string text, bool at_origin,
                                  std::vector<int32_t>* ids) const {
  std::vector<tok::Piece> pieces;
  pieces.push_back({std::move(text), at_origin});
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
  for (const tok::Piece& p : pieces) model_->encode_word(p.text, ids);
}

void Tokenizer::encode_segment(std::string_view text, bool at_origin,
                               std::vector<int32_t>* ids) const {
  std::string normalized(text);
  if (normalizer_) normalizer_->normalize(normalized);
  if (!added_->has_normalized_tokens()) {
    if (!normalized.empty()) encode_normalized(std::move(normalized), at_origin, ids);
    return;
  }
  std::vector<tok::Segment> segs;
  added_->split(normalized, /*normalized_tokens=*/true, &segs);
  for (const tok::Segment& s : segs) {
    if (s.id >= 0) {
      ids->push_back(s.id);
    } else {
      encode_normalized(normalized.substr(s.start, s.end - s.start), at_origin && s.start == 0,
                        ids);
    }
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  tok::utf8_require_valid(text, "text to encode");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<tok::Segment> segs;
  added_->split(text, /*normalized_tokens=*/false, &segs);
  for (const tok::Segment& s : segs) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else {
      encode_segment(text.substr(s.start, s.end - s.start), s.start == 0, &ids);
    }
  }
  if (add_special_tokens && post_processor_) post_processor_->process(ids);
  return ids;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens,
                                                          int num_threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  int n = num_threads > 0 ? num_threads : static_cast<int>(std::thread::hardware_concurrency());
  n = std::max(1, std::min<int>(n, static_cast<int>(texts.size())));
  if (n <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], add_special_tokens);
    return out;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < n; ++t) {
    pool.emplace_back([&, t] {
      (void)t;
      for (size_t i; !failed && (i = next.fetch_add(1)) < texts.size();) {
        try {
          out[i] = encode(texts[i], add_special_tokens);
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const tok::AddedToken* a = added_->find_id(id)) {
      if (skip_special_tokens && a->special) continue;
      tokens.push_back(a->content);
      continue;
    }
    const std::string* t = model_->id_to_token(id);
    if (t == nullptr)
      fail(ErrorKind::kInvalidArgument, "cannot decode id ", id, ": not in the vocabulary (size ",
           vocab_size(), ")");
    tokens.push_back(*t);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  decoder_->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const tok::AddedToken* a = added_->find_content(token)) return a->id;
  int32_t id = model_->token_to_id(token);
  if (id < 0) return std::nullopt;
  return id;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const tok::AddedToken* a = added_->find_id(id)) return a->content;
  if (const std::string* t = model_->id_to_token(id)) return *t;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  const tok::AddedToken* a = added_->find_id(id);
  return a != nullptr && a->special;
}

size_t Tokenizer::vocab_size() const {
  size_t n = model_->vocab_size();
  for (const auto& a : added_->tokens()) n = std::max(n, static_cast<size_t>(a.id) + 1);
  return n;
}

}  // namespace khub
