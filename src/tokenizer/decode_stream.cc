#include "tokenizer/decode_stream.h"

namespace khub {
namespace {

bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

DecodeStream::DecodeStream(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special_tokens)
    : tok_(std::move(tokenizer)), skip_special_(skip_special_tokens) {}

void DecodeStream::reset() {
  context_.clear();
  context_text_.clear();
  pending_.clear();
}

std::string DecodeStream::step(int32_t id) {
  pending_.push_back(id);
  std::vector<int32_t> all(context_);
  all.insert(all.end(), pending_.begin(), pending_.end());
  std::string text = tok_->decode(all, skip_special_);
  if (text.compare(0, context_text_.size(), context_text_) != 0) {
    // The window's context decodes differently next to the new ids: restart without context.
    all = pending_;
    context_.clear();
    context_text_.clear();
    text = tok_->decode(all, skip_special_);
  }
  if (text.size() <= context_text_.size() || ends_with_replacement(text)) return "";
  std::string fresh = text.substr(context_text_.size());
  size_t keep = std::min(all.size(), kContextIds);
  context_.assign(all.end() - static_cast<std::ptrdiff_t>(keep), all.end());
  context_text_ = tok_->decode(context_, skip_special_);
  pending_.clear();
  return fresh;
}

std::string DecodeStream::flush() {
  std::string rest;
  if (!pending_.empty()) {
    std::vector<int32_t> all(context_);
    all.insert(all.end(), pending_.begin(), pending_.end());
    std::string text = tok_->decode(all, skip_special_);
    rest = text.compare(0, context_text_.size(), context_text_) == 0
               ? text.substr(context_text_.size())
               : tok_->decode(pending_, skip_special_);
  }
  reset();
  return rest;
}

}  // namespace khub
