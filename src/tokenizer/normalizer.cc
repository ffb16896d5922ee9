#include "tokenizer/normalizer.h"

#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/unicode_text.h"

namespace khub::tok {
namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = unicode_normalize(text, form_); }

 private:
  NormalForm form_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = unicode_lowercase(text); }
};

class StripAccents : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = unicode_strip_accents(text); }
};

// Replaces every match of a literal string or a regex with `content`.
class Replace : public Normalizer {
 public:
  Replace(const Json& j, const std::string& path) {
    std::string pattern;
    if (json_pattern(j, path, &pattern)) {
      regex_ = std::make_unique<Regex>(pattern, path + ".pattern.Regex");
    } else {
      literal_ = pattern;
    }
    content_ = json_string(j, path, "content");
  }
  void normalize(std::string& text) const override {
    if (regex_) {
      std::vector<std::pair<size_t, size_t>> m;
      regex_->find_all(text, &m);
      if (m.empty()) return;
      std::string out;
      size_t prev = 0;
      for (auto [s, e] : m) {
        out.append(text, prev, s - prev);
        out += content_;
        prev = e;
      }
      out.append(text, prev);
      text = std::move(out);
      return;
    }
    if (literal_.empty()) return;
    size_t pos = text.find(literal_);
    if (pos == std::string::npos) return;
    std::string out;
    size_t prev = 0;
    while (pos != std::string::npos) {
      out.append(text, prev, pos - prev);
      out += content_;
      prev = pos + literal_.size();
      pos = text.find(literal_, prev);
    }
    out.append(text, prev);
    text = std::move(out);
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string literal_, content_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

// Strips Unicode whitespace on the left and/or right.
class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        char32_t c;
        int n = utf8_decode(text, begin, &c);
        if (!is_whitespace(c)) break;
        begin += n;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t s = end - 1;
        while (s > begin && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
        char32_t c;
        utf8_decode(text, s, &c);
        if (!is_whitespace(c)) break;
        end = s;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> items) : items_(std::move(items)) {}
  void normalize(std::string& text) const override {
    for (const auto& n : items_) n->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> items_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  std::string type = json_type(j, path);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::kNFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::kNFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::kNFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::kNFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Replace") return std::make_unique<Replace>(j, path);
  if (type == "Prepend") return std::make_unique<Prepend>(json_string(j, path, "prepend"));
  if (type == "Strip")
    return std::make_unique<Strip>(json_bool_or(j, path, "strip_left", true),
                                   json_bool_or(j, path, "strip_right", true));
  if (type == "Sequence")
    return std::make_unique<Sequence>(
        make_sequence_parts<Normalizer>(j, path, "normalizers", make_normalizer));
  json_fail(path + ".type", "unknown normalizer type '" + type +
                                "' (supported: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, "
                                "Replace, Prepend, Strip, Sequence)");
}

}  // namespace khub::tok
