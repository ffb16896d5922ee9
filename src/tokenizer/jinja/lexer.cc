#include "tokenizer/jinja/lexer.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace khub::jinja {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {
    // Normalize newlines and drop one trailing newline (keep_trailing_newline=False).
    std::string s;
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\r') {
        s.push_back('\n');
        if (i + 1 < src_.size() && src_[i + 1] == '\n') ++i;
      } else {
        s.push_back(src_[i]);
      }
    }
    if (!s.empty() && s.back() == '\n') s.pop_back();
    src_ = std::move(s);
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  Pos pos_of(size_t off) const {
    size_t line =
        std::upper_bound(line_starts_.begin(), line_starts_.end(), off) - line_starts_.begin();
    return {static_cast<int>(line), static_cast<int>(off - line_starts_[line - 1] + 1)};
  }

  [[noreturn]] void error(size_t off, const std::string& msg) const {
    Pos p = pos_of(off);
    fail(ErrorKind::kFormat, "chat template line ", p.line, ", column ", p.col, ": ", msg);
  }

  std::vector<Chunk> run() {
    std::vector<Chunk> chunks;
    size_t pos = 0;
    bool line_starting = true;
    while (pos <= src_.size()) {
      size_t tag = find_tag(pos);
      std::string text = src_.substr(pos, tag - pos);
      if (tag == src_.size()) {
        if (!text.empty()) chunks.push_back({Chunk::Type::kText, text, {}, pos_of(pos)});
        break;
      }
      char kind = src_[tag + 1];  // '{', '%' or '#'
      char mod = tag + 2 < src_.size() ? src_[tag + 2] : 0;
      if (mod == '-') {
        size_t e = text.size();
        while (e > 0 && is_space(text[e - 1])) --e;
        text.resize(e);
      } else if (mod != '+' && kind != '{') {
        size_t l = text.rfind('\n');
        l = l == std::string::npos ? 0 : l + 1;
        if (l > 0 || line_starting) {
          bool blank = l < text.size();
          for (size_t k = l; k < text.size(); ++k) blank = blank && is_space(text[k]);
          if (blank) text.resize(l);
        }
      }
      if (!text.empty()) chunks.push_back({Chunk::Type::kText, text, {}, pos_of(pos)});
      size_t body = tag + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      size_t end;
      if (kind == '#') {
        end = src_.find("#}", body);
        if (end == std::string::npos) error(tag, "unclosed comment");
        bool strip = end > body && src_[end - 1] == '-';
        bool keep = end > body && src_[end - 1] == '+';
        pos = finish_tag(end + 2, strip, !strip && !keep, &line_starting);
        continue;
      }
      Chunk c{kind == '{' ? Chunk::Type::kVar : Chunk::Type::kBlock, "", {}, pos_of(tag)};
      bool strip = false, keep = false;
      end = tokenize(body, kind == '{' ? '}' : '%', &c.tokens, &strip, &keep);
      // {% raw %}: the text up to {% endraw %} is literal.
      if (c.type == Chunk::Type::kBlock && c.tokens.size() == 2 &&
          c.tokens[0].type == Token::Type::kName && c.tokens[0].text == "raw") {
        size_t after = finish_tag(end, strip, !strip && !keep, &line_starting);
        size_t close = after;
        for (;;) {
          close = src_.find("{%", close);
          if (close == std::string::npos) error(tag, "unclosed {% raw %}");
          size_t k = close + 2;
          bool lstrip_close = k < src_.size() && src_[k] == '-';
          if (lstrip_close || (k < src_.size() && src_[k] == '+')) ++k;
          while (k < src_.size() && is_space(src_[k])) ++k;
          if (src_.compare(k, 6, "endraw") == 0) {
            std::string raw = src_.substr(after, close - after);
            if (lstrip_close) {
              size_t e = raw.size();
              while (e > 0 && is_space(raw[e - 1])) --e;
              raw.resize(e);
            }
            if (!raw.empty()) chunks.push_back({Chunk::Type::kText, raw, {}, pos_of(after)});
            std::vector<Token> ignored;
            bool s2 = false, k2 = false;
            size_t e2 = tokenize(k, '%', &ignored, &s2, &k2);
            pos = finish_tag(e2, s2, !s2 && !k2, &line_starting);
            break;
          }
          close += 2;
        }
        continue;
      }
      pos = finish_tag(end, strip, kind == '%' && !strip && !keep, &line_starting);
      chunks.push_back(std::move(c));
    }
    return chunks;
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    }
    return src_.size();
  }

  // After a tag end at `pos`: '-' strips all following whitespace; trim_blocks drops one newline.
  size_t finish_tag(size_t pos, bool strip, bool trim_newline, bool* line_starting) {
    size_t start = pos;
    if (strip) {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
    } else if (trim_newline && pos < src_.size() && src_[pos] == '\n') {
      ++pos;
    }
    *line_starting = pos > start && src_[pos - 1] == '\n';
    return pos;
  }

  // Tokenizes an expression until the closing delimiter ("}}" or "%}", optionally with a '-' or
  // '+' modifier) at bracket depth 0; returns the offset just after the delimiter.
  size_t tokenize(size_t pos, char close, std::vector<Token>* out, bool* strip, bool* keep) {
    int depth = 0;
    for (;;) {
      while (pos < src_.size() && is_space(src_[pos])) ++pos;
      if (pos >= src_.size()) error(pos, std::string("missing closing '") + close + "}'");
      char c = src_[pos];
      if (depth == 0) {
        size_t k = pos;
        bool s = false, p = false;
        if ((c == '-' || c == '+') && k + 2 < src_.size() + 1 && src_[k + 1] == close &&
            k + 2 < src_.size() && src_[k + 2] == '}') {
          s = c == '-';
          p = c == '+';
          ++k;
        }
        if (src_[k] == close && k + 1 < src_.size() && src_[k + 1] == '}') {
          out->push_back({Token::Type::kEnd, "", Value(), pos_of(pos)});
          *strip = s;
          *keep = p;
          return k + 2;
        }
      }
      Pos p = pos_of(pos);
      if (is_name_start(c)) {
        size_t e = pos;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        out->push_back({Token::Type::kName, src_.substr(pos, e - pos), Value(), p});
        pos = e;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t e = pos;
        bool is_float = false;
        while (e < src_.size() &&
               (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_'))
          ++e;
        if (e + 1 < src_.size() && src_[e] == '.' &&
            std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
          is_float = true;
          ++e;
          while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
        }
        if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
          size_t k = e + 1;
          if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
          if (k < src_.size() && std::isdigit(static_cast<unsigned char>(src_[k]))) {
            is_float = true;
            e = k;
            while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
          }
        }
        std::string num;
        for (size_t k = pos; k < e; ++k)
          if (src_[k] != '_') num.push_back(src_[k]);
        Value v = is_float ? Value(std::strtod(num.c_str(), nullptr))
                           : Value(static_cast<int64_t>(std::strtoll(num.c_str(), nullptr, 10)));
        out->push_back({is_float ? Token::Type::kFloat : Token::Type::kInt, num, v, p});
        pos = e;
      } else if (c == '\'' || c == '"') {
        std::string s;
        size_t e = pos + 1;
        for (;;) {
          if (e >= src_.size()) error(pos, "unterminated string literal");
          char d = src_[e];
          if (d == c) break;
          if (d == '\\' && e + 1 < src_.size()) {
            char x = src_[++e];
            switch (x) {
              case 'n':
                s.push_back('\n');
                break;
              case 't':
                s.push_back('\t');
                break;
              case 'r':
                s.push_back('\r');
                break;
              case '\\':
                s.push_back('\\');
                break;
              case '\'':
                s.push_back('\'');
                break;
              case '"':
                s.push_back('"');
                break;
              case '0':
                s.push_back('\0');
                break;
              case 'u':
              case 'x': {
                int len = x == 'u' ? 4 : 2;
                if (e + len >= src_.size()) error(e, "bad escape");
                char32_t cp = static_cast<char32_t>(
                    std::strtoul(src_.substr(e + 1, len).c_str(), nullptr, 16));
                append_utf8(s, cp);
                e += len;
                break;
              }
              case '\n':
                break;
              default:
                s.push_back('\\');
                s.push_back(x);
            }
            ++e;
            continue;
          }
          s.push_back(d);
          ++e;
        }
        out->push_back({Token::Type::kString, s, Value(s), p});
        pos = e + 1;
      } else {
        static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "(", ")", "[",
                                    "]",  "{",  "}",  ".",  ",",  ":",  "|", "~", "+",
                                    "-",  "*",  "/",  "%",  "<",  ">",  "="};
        std::string op;
        for (const char* o : ops) {
          if (src_.compare(pos, std::strlen(o), o) == 0) {
            op = o;
            break;
          }
        }
        if (op.empty()) error(pos, std::string("unexpected character '") + c + "'");
        if (op == "(" || op == "[" || op == "{") ++depth;
        if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
        out->push_back({Token::Type::kOp, op, Value(), p});
        pos += op.size();
      }
    }
  }

  static void append_utf8(std::string& s, char32_t cp) {
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string src_;
  std::vector<size_t> line_starts_;
};

}  // namespace

[[noreturn]] void error_at(Pos p, const std::string& msg) {
  fail(ErrorKind::kFormat, "chat template line ", p.line, ", column ", p.col, ": ", msg);
}

std::vector<Chunk> lex_template(const std::string& source) { return Lexer(source).run(); }

}  // namespace khub::jinja
