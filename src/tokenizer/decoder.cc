#include "tokenizer/decoder.h"

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode_text.h"

namespace khub::tok {
namespace {

// Maps byte-level characters back to bytes; a token with a character outside the table keeps its
// own UTF-8 bytes (added tokens). The bytes are then decoded lossily into one string.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      size_t mark = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        char32_t c;
        i += utf8_decode(t, i, &c);
        int b = byte_level_byte(c);
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!ok) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, replacement_.size(), replacement_) == 0) {
          out.push_back(' ');
          k += replacement_.size();
        } else {
          out.push_back(t[k++]);
        }
      }
      if (i == 0 && strip_first_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

// <0xNN> tokens become bytes; each run of them becomes its UTF-8 text, or one U+FFFD per byte
// when the run is not valid UTF-8.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    auto flush = [&] {
      if (run.empty()) return;
      if (utf8_find_invalid(run) == std::string::npos) {
        out.push_back(run);
      } else {
        for (size_t k = 0; k < run.size(); ++k) out.push_back("\xEF\xBF\xBD");
      }
      run.clear();
    };
    for (std::string& t : tokens) {
      int byte = parse_byte(t);
      if (byte >= 0) {
        run.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  static int parse_byte(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of one character per token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && t.compare(b, content_.size(), content_) == 0; ++k)
        b += content_.size();
      for (size_t k = 0; k < stop_ && e >= b + content_.size() &&
                         t.compare(e - content_.size(), content_.size(), content_) == 0;
           ++k)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(const Json& j, const std::string& path) {
    std::string pattern;
    if (json_pattern(j, path, &pattern)) {
      regex_ = std::make_unique<Regex>(pattern, path + ".pattern.Regex");
    } else {
      literal_ = pattern;
    }
    content_ = json_string(j, path, "content");
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::pair<size_t, size_t>> m;
    for (std::string& t : tokens) {
      m.clear();
      if (regex_) {
        regex_->find_all(t, &m);
      } else if (!literal_.empty()) {
        for (size_t p = t.find(literal_); p != std::string::npos;
             p = t.find(literal_, p + literal_.size()))
          m.emplace_back(p, p + literal_.size());
      }
      if (m.empty()) continue;
      std::string out;
      size_t prev = 0;
      for (auto [s, e] : m) {
        out.append(t, prev, s - prev);
        out += content_;
        prev = e;
      }
      out.append(t, prev);
      t = std::move(out);
    }
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string literal_, content_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> items)
      : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  std::string type = json_type(j, path);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    std::string rep = json_string_or(j, path, "replacement", "\xE2\x96\x81");
    bool strip_first = true;
    if (j.contains("prepend_scheme")) {
      strip_first = json_string(j, path, "prepend_scheme") != "never";
    } else {
      strip_first = json_bool_or(j, path, "add_prefix_space", true);
    }
    return std::make_unique<MetaspaceDecoder>(rep, strip_first);
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    std::string content = json_string(j, path, "content");
    long long start = json_int_or(j, path, "start", 0), stop = json_int_or(j, path, "stop", 0);
    if (start < 0 || stop < 0) json_fail(path, "start and stop must be >= 0");
    return std::make_unique<StripDecoder>(content, static_cast<size_t>(start),
                                          static_cast<size_t>(stop));
  }
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j, path);
  if (type == "Sequence")
    return std::make_unique<SequenceDecoder>(
        make_sequence_parts<Decoder>(j, path, "decoders", make_decoder));
  json_fail(path + ".type", "unknown decoder type '" + type +
                                "' (supported: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, "
                                "Replace, Sequence)");
}

}  // namespace khub::tok
