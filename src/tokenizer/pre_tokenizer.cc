#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <array>

#include "tokenizer/regex.h"
#include "tokenizer/unicode_text.h"

namespace khub::tok {

void split_by_matches(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                      SplitBehavior behavior, bool invert, std::vector<Piece>* out) {
  const std::string& t = piece.text;
  // The whole text as alternating (range, is_match) parts, as HF's find_matches builds them.
  struct Part {
    size_t s, e;
    bool m;
  };
  std::vector<Part> parts;
  parts.reserve(matches.size() * 2 + 1);
  if (t.empty()) {
    parts.push_back({0, 0, false});
  } else {
    size_t prev = 0;
    for (auto [s, e] : matches) {
      if (prev != s) parts.push_back({prev, s, invert});
      parts.push_back({s, e, !invert});
      prev = e;
    }
    if (prev != t.size()) parts.push_back({prev, t.size(), invert});
  }
  std::vector<Part> res;  // m now means "remove"
  res.reserve(parts.size());
  switch (behavior) {
    case SplitBehavior::kRemoved:
      res = parts;
      break;
    case SplitBehavior::kIsolated:
      for (auto p : parts) res.push_back({p.s, p.e, false});
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool prev_match = false;
      for (auto p : parts) {
        if (p.m && !prev_match && !res.empty()) {
          res.back().e = p.e;
        } else {
          res.push_back({p.s, p.e, false});
        }
        prev_match = p.m;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool prev_match = false;
      for (size_t k = parts.size(); k-- > 0;) {
        auto p = parts[k];
        if (p.m && !prev_match && !res.empty()) {
          res.back().s = p.s;
        } else {
          res.push_back({p.s, p.e, false});
        }
        prev_match = p.m;
      }
      std::reverse(res.begin(), res.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool prev_match = false;
      for (auto p : parts) {
        if (p.m == prev_match && !res.empty()) {
          res.back().e = p.e;
        } else {
          res.push_back({p.s, p.e, false});
        }
        prev_match = p.m;
      }
      break;
    }
  }
  for (auto p : res) {
    if (p.m || p.s == p.e) continue;
    out->push_back({t.substr(p.s, p.e - p.s), piece.at_origin && p.s == 0});
  }
}

namespace {

struct ByteLevelTables {
  std::array<std::string, 256> to_char;
  std::array<int, 0x200> to_byte;
  ByteLevelTables() {
    to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      utf8_append(to_char[b], cp);
      to_byte[cp] = b;
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

SplitBehavior parse_behavior(const Json& j, const std::string& path) {
  std::string b = json_string(j, path, "behavior");
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  json_fail(path + ".behavior", "unknown behavior '" + b +
                                    "' (expected Removed, Isolated, MergedWithPrevious, "
                                    "MergedWithNext or Contiguous)");
}

// Splits every piece on a regex or a literal.
class Split : public PreTokenizer {
 public:
  Split(const std::string& pattern, bool is_regex, SplitBehavior behavior, bool invert,
        const std::string& what)
      : behavior_(behavior), invert_(invert) {
    if (is_regex) {
      regex_ = std::make_unique<Regex>(pattern, what);
    } else {
      literal_ = pattern;
    }
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> m;
    for (const Piece& p : pieces) {
      if (regex_) {
        regex_->find_all(p.text, &m);
      } else {
        m.clear();
        if (!literal_.empty()) {
          for (size_t pos = p.text.find(literal_); pos != std::string::npos;
               pos = p.text.find(literal_, pos + literal_.size()))
            m.emplace_back(pos, pos + literal_.size());
        }
      }
      split_by_matches(p, m, behavior_, invert_, &out);
    }
    pieces = std::move(out);
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string literal_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits pieces at characters selected by a predicate.
template <typename Pred>
void split_chars(std::vector<Piece>& pieces, Pred pred, SplitBehavior behavior) {
  std::vector<Piece> out;
  std::vector<std::pair<size_t, size_t>> m;
  for (const Piece& p : pieces) {
    m.clear();
    for (size_t i = 0; i < p.text.size();) {
      char32_t c;
      int n = utf8_decode(p.text, i, &c);
      if (pred(c)) m.emplace_back(i, i + n);
      i += n;
    }
    split_by_matches(p, m, behavior, false, &out);
  }
  pieces = std::move(out);
}

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        regex_(use_regex ? std::make_unique<Regex>(
                               "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
                               "\\s+(?!\\S)|\\s+",
                               "ByteLevel regex")
                         : nullptr) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (Piece& p : pieces)
        if (p.text.empty() || p.text[0] != ' ') p.text.insert(0, " ");
    }
    if (regex_) {
      std::vector<Piece> out;
      std::vector<std::pair<size_t, size_t>> m;
      for (const Piece& p : pieces) {
        regex_->find_all(p.text, &m);
        split_by_matches(p, m, SplitBehavior::kIsolated, false, &out);
      }
      pieces = std::move(out);
    }
    const auto& t = tables();
    for (Piece& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (unsigned char b : p.text) mapped += t.to_char[b];
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class Metaspace : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  Metaspace(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    std::vector<std::pair<size_t, size_t>> m;
    for (Piece& p : pieces) {
      std::string r;
      for (char c : p.text) {
        if (c == ' ') {
          r += replacement_;
        } else {
          r.push_back(c);
        }
      }
      bool starts = r.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && p.at_origin)))
        r.insert(0, replacement_);
      p.text = std::move(r);
      if (!split_) {
        out.push_back(std::move(p));
        continue;
      }
      m.clear();
      for (size_t pos = p.text.find(replacement_); pos != std::string::npos;
           pos = p.text.find(replacement_, pos + replacement_.size()))
        m.emplace_back(pos, pos + replacement_.size());
      split_by_matches(p, m, SplitBehavior::kMergedWithNext, false, &out);
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

class Digits : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_chars(
        pieces, [](char32_t c) { return c >= '0' && c <= '9'; },
        individual_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }

 private:
  bool individual_;
};

class Punctuation : public PreTokenizer {
 public:
  explicit Punctuation(SplitBehavior b) : behavior_(b) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_chars(pieces, is_punctuation, behavior_);
  }

 private:
  SplitBehavior behavior_;
};

class WhitespaceSplit : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_chars(pieces, is_whitespace, SplitBehavior::kRemoved);
  }
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : items_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

}  // namespace

const std::string& byte_level_char(unsigned char b) { return tables().to_char[b]; }

int byte_level_byte(char32_t c) { return c < 0x200 ? tables().to_byte[c] : -1; }

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  std::string type = json_type(j, path);
  if (type == "Split") {
    std::string pattern;
    bool is_regex = json_pattern(j, path, &pattern);
    return std::make_unique<Split>(pattern, is_regex, parse_behavior(j, path),
                                   json_bool_or(j, path, "invert", false), path + ".pattern");
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(json_bool_or(j, path, "add_prefix_space", true),
                                       json_bool_or(j, path, "use_regex", true));
  if (type == "Metaspace") {
    std::string rep = json_string_or(j, path, "replacement", "\xE2\x96\x81");
    Metaspace::Prepend prepend = Metaspace::Prepend::kAlways;
    if (j.contains("prepend_scheme")) {
      std::string s = json_string(j, path, "prepend_scheme");
      if (s == "always") {
        prepend = Metaspace::Prepend::kAlways;
      } else if (s == "first") {
        prepend = Metaspace::Prepend::kFirst;
      } else if (s == "never") {
        prepend = Metaspace::Prepend::kNever;
      } else {
        json_fail(path + ".prepend_scheme", "expected always, first or never, got '" + s + "'");
      }
    } else if (!json_bool_or(j, path, "add_prefix_space", true)) {
      prepend = Metaspace::Prepend::kNever;
    }
    return std::make_unique<Metaspace>(rep, prepend, json_bool_or(j, path, "split", true));
  }
  if (type == "Digits")
    return std::make_unique<Digits>(json_bool_or(j, path, "individual_digits", false));
  if (type == "Punctuation") {
    SplitBehavior b = j.contains("behavior") ? parse_behavior(j, path) : SplitBehavior::kIsolated;
    return std::make_unique<Punctuation>(b);
  }
  if (type == "Whitespace")
    return std::make_unique<Split>("\\w+|[^\\w\\s]+", true, SplitBehavior::kRemoved, true,
                                   path + " (Whitespace)");
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplit>();
  if (type == "Sequence")
    return std::make_unique<Sequence>(
        make_sequence_parts<PreTokenizer>(j, path, "pretokenizers", make_pre_tokenizer));
  json_fail(path + ".type", "unknown pre_tokenizer type '" + type +
                                "' (supported: Split, ByteLevel, Metaspace, Digits, Punctuation, "
                                "Whitespace, WhitespaceSplit, Sequence)");
}

}  // namespace khub::tok
