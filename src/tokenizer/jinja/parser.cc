// Lexer and parser of khub's Jinja subset. Whitespace handling follows Jinja with the settings
// transformers uses for chat templates: trim_blocks and lstrip_blocks on, '-' and '+' modifiers,
// one trailing newline of the source dropped, line endings normalized to "\n".
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <set>

#include "core/error.h"
#include "tokenizer/jinja/ast.h"

namespace khub::jinja {
namespace {

struct Token {
  enum class Type { kName, kString, kInt, kFloat, kOp, kEnd };
  Type type;
  std::string text;
  Value value;
  Pos pos;
};

// One template chunk: text, {{ expression }} or {% statement %}.
struct Chunk {
  enum class Type { kText, kVar, kBlock };
  Type type;
  std::string text;
  std::vector<Token> tokens;  // ends with a kEnd token
  Pos pos;
};

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

[[noreturn]] void error_at(Pos p, const std::string& msg) {
  fail(ErrorKind::kFormat, "chat template line ", p.line, ", column ", p.col, ": ", msg);
}

ExprPtr make(Expr::Kind k, Pos p) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->pos = p;
  return e;
}

// Recursive-descent expression parser over one chunk's tokens (Jinja's precedence).
class ExprParser {
 public:
  explicit ExprParser(const std::vector<Token>& t) : t_(t) {}

  const Token& peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool at_end() const { return peek().type == Token::Type::kEnd; }
  bool is_op(const char* op, size_t k = 0) const {
    return peek(k).type == Token::Type::kOp && peek(k).text == op;
  }
  bool is_name(const char* n, size_t k = 0) const {
    return peek(k).type == Token::Type::kName && peek(k).text == n;
  }
  const Token& next() { return t_[std::min(i_++, t_.size() - 1)]; }
  void expect_op(const char* op) {
    if (!is_op(op)) error_at(peek().pos, std::string("expected '") + op + "', got " + describe());
    ++i_;
  }
  std::string expect_name() {
    if (peek().type != Token::Type::kName)
      error_at(peek().pos, "expected a name, got " + describe());
    return next().text;
  }
  void expect_end() {
    if (!at_end()) error_at(peek().pos, "unexpected " + describe());
  }
  std::string describe() const {
    const Token& t = peek();
    if (t.type == Token::Type::kEnd) return "end of tag";
    return "'" + t.text + "'";
  }

  ExprPtr parse_expression(bool allow_cond = true) {
    // Bounded nesting keeps hostile templates from exhausting the stack.
    if (++depth_ > kMaxDepth) error_at(peek().pos, "expression nested too deeply");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    ExprPtr e = parse_or();
    if (!allow_cond) return e;
    while (is_name("if")) {
      Pos p = next().pos;
      auto c = make(Expr::Kind::kCond, p);
      c->b = parse_or();
      if (is_name("else")) {
        ++i_;
        c->c = parse_expression();
      }
      c->a = std::move(e);
      e = std::move(c);
    }
    return e;
  }

  // Comma-separated expressions: a tuple when there is a comma (for `set a, b = ...` values).
  ExprPtr parse_tuple_or_expression() {
    Pos p = peek().pos;
    ExprPtr first = parse_expression();
    if (!is_op(",")) return first;
    auto t = make(Expr::Kind::kTuple, p);
    t->items.push_back(std::move(first));
    while (is_op(",")) {
      ++i_;
      if (at_end()) break;
      t->items.push_back(parse_expression());
    }
    return t;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      Pos p = next().pos;
      e = binary("or", std::move(e), parse_and(), p);
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      Pos p = next().pos;
      e = binary("and", std::move(e), parse_not(), p);
    }
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      if (++depth_ > kMaxDepth) error_at(peek().pos, "expression nested too deeply");
      Pos p = next().pos;
      auto u = make(Expr::Kind::kUnary, p);
      u->name = "not";
      u->a = parse_not();
      --depth_;
      return u;
    }
    return parse_compare();
  }
  // Comparisons chain as in Python: a < b < c means (a < b) and (b < c).
  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    const Expr* last_right = nullptr;
    for (;;) {
      Pos p = peek().pos;
      std::string op;
      if (peek().type == Token::Type::kOp &&
          (is_op("==") || is_op("!=") || is_op("<") || is_op("<=") || is_op(">") || is_op(">="))) {
        op = next().text;
      } else if (is_name("in")) {
        ++i_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        i_ += 2;
        op = "notin";
      } else {
        return e;
      }
      if (last_right == nullptr) {
        e = binary(op, std::move(e), parse_math1(), p);
        last_right = e->b.get();
      } else {
        // The middle operand is evaluated again (expressions here have no side effects).
        auto cmp = binary(op, clone(*last_right), parse_math1(), p);
        last_right = cmp->b.get();
        e = binary("and", std::move(e), std::move(cmp), p);
      }
    }
  }

  static ExprPtr clone(const Expr& x) {
    auto c = make(x.kind, x.pos);
    c->value = x.value;
    c->name = x.name;
    c->negated = x.negated;
    if (x.a) c->a = clone(*x.a);
    if (x.b) c->b = clone(*x.b);
    if (x.c) c->c = clone(*x.c);
    for (const auto& i : x.items) c->items.push_back(clone(*i));
    for (const auto& [k, v] : x.kwargs) c->kwargs.emplace_back(k, clone(*v));
    return c;
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), parse_concat(), t.pos);
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      Pos p = next().pos;
      e = binary("~", std::move(e), parse_math2(), p);
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      e = binary(t.text, std::move(e), parse_pow(), t.pos);
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      Pos p = next().pos;
      e = binary("**", std::move(e), parse_unary(true), p);
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      if (++depth_ > kMaxDepth) error_at(peek().pos, "expression nested too deeply");
      const Token& t = next();
      e = make(Expr::Kind::kUnary, t.pos);
      e->name = t.text;
      e->a = parse_unary(false);
      --depth_;
    } else {
      e = parse_postfix(parse_primary());
    }
    if (with_filter) e = parse_filters(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    Pos p = t.pos;
    switch (t.type) {
      case Token::Type::kName: {
        ++i_;
        auto e = make(Expr::Kind::kLiteral, p);
        if (t.text == "true" || t.text == "True") {
          e->value = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          e->value = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          e->value = Value::none();
        } else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return e;
      }
      case Token::Type::kString: {
        std::string s;
        while (peek().type == Token::Type::kString) s += next().text;  // "a" "b" concatenates
        auto e = make(Expr::Kind::kLiteral, p);
        e->value = Value(s);
        return e;
      }
      case Token::Type::kInt:
      case Token::Type::kFloat: {
        ++i_;
        auto e = make(Expr::Kind::kLiteral, p);
        e->value = t.value;
        return e;
      }
      case Token::Type::kOp:
        if (t.text == "(") {
          ++i_;
          if (is_op(")")) {
            ++i_;
            return make(Expr::Kind::kTuple, p);
          }
          ExprPtr first = parse_expression();
          if (is_op(")")) {
            ++i_;
            return first;
          }
          auto tup = make(Expr::Kind::kTuple, p);
          tup->items.push_back(std::move(first));
          while (is_op(",")) {
            ++i_;
            if (is_op(")")) break;
            tup->items.push_back(parse_expression());
          }
          expect_op(")");
          return tup;
        }
        if (t.text == "[") {
          ++i_;
          auto l = make(Expr::Kind::kList, p);
          while (!is_op("]")) {
            l->items.push_back(parse_expression());
            if (!is_op(",")) break;
            ++i_;
          }
          expect_op("]");
          return l;
        }
        if (t.text == "{") {
          ++i_;
          auto d = make(Expr::Kind::kDict, p);
          while (!is_op("}")) {
            d->items.push_back(parse_expression());
            expect_op(":");
            d->items.push_back(parse_expression());
            if (!is_op(",")) break;
            ++i_;
          }
          expect_op("}");
          return d;
        }
        break;
      default:
        break;
    }
    error_at(p, "unexpected " + describe() + " in expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      if (is_op(".")) {
        Pos p = next().pos;
        auto a = make(Expr::Kind::kAttr, p);
        if (peek().type == Token::Type::kInt) {  // foo.0 is foo[0]
          a->kind = Expr::Kind::kIndex;
          a->b = make(Expr::Kind::kLiteral, peek().pos);
          a->b->value = next().value;
        } else {
          a->name = expect_name();
        }
        a->a = std::move(e);
        e = std::move(a);
      } else if (is_op("[")) {
        Pos p = next().pos;
        ExprPtr lo, hi, step;
        bool slice = false;
        if (!is_op(":")) lo = parse_expression();
        if (is_op(":")) {
          slice = true;
          ++i_;
          if (!is_op("]") && !is_op(":")) hi = parse_expression();
          if (is_op(":")) {
            ++i_;
            if (!is_op("]")) step = parse_expression();
          }
        }
        expect_op("]");
        auto x = make(slice ? Expr::Kind::kSlice : Expr::Kind::kIndex, p);
        x->a = std::move(e);
        x->b = std::move(lo);
        if (slice) {
          x->c = std::move(hi);
          if (step) x->items.push_back(std::move(step));
        }
        e = std::move(x);
      } else if (is_op("(")) {
        e = parse_call(std::move(e), Expr::Kind::kCall);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_call(ExprPtr callee, Expr::Kind kind) {
    Pos p = callee->pos;
    auto c = make(kind, p);
    c->a = std::move(callee);
    parse_args(c.get());
    return c;
  }

  void parse_args(Expr* c) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().type == Token::Type::kName && is_op("=", 1)) {
        std::string key = next().text;
        ++i_;
        c->kwargs.emplace_back(key, parse_expression());
      } else {
        if (!c->kwargs.empty()) error_at(peek().pos, "positional argument after keyword argument");
        c->items.push_back(parse_expression());
      }
      if (!is_op(",")) break;
      ++i_;
    }
    expect_op(")");
  }

  ExprPtr parse_filters(ExprPtr e) {
    for (;;) {
      if (is_op("|")) {
        ++i_;
        e = parse_filter_call(std::move(e));
      } else if (is_name("is")) {
        Pos p = next().pos;
        auto t = make(Expr::Kind::kTest, p);
        if (is_name("not")) {
          ++i_;
          t->negated = true;
        }
        t->name = expect_name();
        if (is_op("(")) {
          parse_args(t.get());
        } else if (starts_test_argument()) {
          t->items.push_back(parse_postfix(parse_primary()));
        }
        t->a = std::move(e);
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e), Expr::Kind::kCall);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_filter_call(ExprPtr input) {
    Pos p = peek().pos;
    auto f = make(Expr::Kind::kFilter, p);
    f->name = expect_name();
    while (is_op(".")) {  // dotted filter names
      ++i_;
      f->name += "." + expect_name();
    }
    if (is_op("(")) parse_args(f.get());
    f->a = std::move(input);
    return f;
  }

 private:
  bool starts_test_argument() const {
    const Token& t = peek();
    if (t.type == Token::Type::kString || t.type == Token::Type::kInt ||
        t.type == Token::Type::kFloat)
      return true;
    if (t.type == Token::Type::kName)
      return t.text != "else" && t.text != "or" && t.text != "and" && t.text != "if" &&
             t.text != "is" && t.text != "not" && t.text != "in";
    return is_op("[") || is_op("{");
  }
  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, Pos p) {
    auto e = make(Expr::Kind::kBinary, p);
    e->name = op;
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  static constexpr int kMaxDepth = 64;
  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
};

// Statement parser over the chunk list.
class Parser {
 public:
  explicit Parser(std::vector<Chunk> chunks) : chunks_(std::move(chunks)) {}

  Body parse_all() {
    std::string end;
    Body b = parse_body({}, &end);
    return b;
  }

 private:
  // Parses until one of `ends` (a block tag name); returns it through *end_tag.
  Body parse_body(const std::set<std::string>& ends, std::string* end_tag, Pos* end_pos = nullptr) {
    if (++depth_ > kMaxDepth)
      error_at(i_ < chunks_.size() ? chunks_[i_].pos : Pos{1, 1}, "blocks nested too deeply");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    Body body;
    while (i_ < chunks_.size()) {
      Chunk& c = chunks_[i_];
      if (c.type == Chunk::Type::kText) {
        auto n = node(Node::Kind::kText, c.pos);
        n->text = c.text;
        body.push_back(std::move(n));
        ++i_;
        continue;
      }
      ExprParser ep(c.tokens);
      if (c.type == Chunk::Type::kVar) {
        auto n = node(Node::Kind::kOutput, c.pos);
        n->expr = ep.parse_expression();
        ep.expect_end();
        body.push_back(std::move(n));
        ++i_;
        continue;
      }
      if (ep.peek().type != Token::Type::kName) error_at(c.pos, "expected a statement name");
      std::string tag = ep.peek().text;
      if (ends.count(tag)) {
        *end_tag = tag;
        if (end_pos) *end_pos = c.pos;
        return body;
      }
      ++i_;
      ep.next();
      body.push_back(parse_statement(tag, ep, c.pos));
    }
    if (!ends.empty()) {
      std::string list;
      for (const auto& e : ends) list += (list.empty() ? "" : " or ") + ("{% " + e + " %}");
      Pos p = chunks_.empty() ? Pos{1, 1} : chunks_.back().pos;
      error_at(p, "unexpected end of template, expected " + list);
    }
    return body;
  }

  // Consumes the end tag chunk found by parse_body and checks it has nothing after its name.
  ExprParser take_end_tag() {
    ExprParser ep(chunks_[i_].tokens);
    ep.next();
    ++i_;
    return ep;
  }

  NodePtr parse_statement(const std::string& tag, ExprParser& ep, Pos pos) {
    if (tag == "if") {
      auto n = node(Node::Kind::kIf, pos);
      ExprPtr cond = ep.parse_expression();
      ep.expect_end();
      for (;;) {
        std::string end;
        Body b = parse_body({"elif", "else", "endif"}, &end);
        n->branches.emplace_back(std::move(cond), std::move(b));
        ExprParser t = take_end_tag();
        if (end == "elif") {
          cond = t.parse_expression();
          t.expect_end();
          continue;
        }
        t.expect_end();
        if (end == "else") {
          std::string end2;
          n->else_body = parse_body({"endif"}, &end2);
          take_end_tag().expect_end();
        }
        return n;
      }
    }
    if (tag == "for") {
      auto n = node(Node::Kind::kFor, pos);
      n->targets.push_back(ep.expect_name());
      while (ep.is_op(",")) {
        ep.next();
        n->targets.push_back(ep.expect_name());
      }
      if (!ep.is_name("in"))
        error_at(ep.peek().pos, "expected 'in' in for loop, got " + ep.describe());
      ep.next();
      n->expr = ep.parse_expression(/*allow_cond=*/false);
      if (ep.is_name("if")) {
        ep.next();
        n->cond = ep.parse_expression();
      }
      if (ep.is_name("recursive")) error_at(ep.peek().pos, "recursive for loops are not supported");
      ep.expect_end();
      std::string end;
      n->body = parse_body({"else", "endfor"}, &end);
      take_end_tag().expect_end();
      if (end == "else") {
        n->else_body = parse_body({"endfor"}, &end);
        take_end_tag().expect_end();
      }
      return n;
    }
    if (tag == "set") {
      std::string target = ep.expect_name();
      if (ep.is_op(".")) {
        ep.next();
        auto n = node(Node::Kind::kSet, pos);
        n->targets.push_back(target);
        n->attr = ep.expect_name();
        ep.expect_op("=");
        n->expr = ep.parse_tuple_or_expression();
        ep.expect_end();
        return n;
      }
      std::vector<std::string> targets{target};
      while (ep.is_op(",")) {
        ep.next();
        targets.push_back(ep.expect_name());
      }
      if (ep.at_end() && targets.size() == 1) {
        auto n = node(Node::Kind::kSetBlock, pos);
        n->targets = targets;
        std::string end;
        n->body = parse_body({"endset"}, &end);
        take_end_tag().expect_end();
        return n;
      }
      auto n = node(Node::Kind::kSet, pos);
      n->targets = targets;
      ep.expect_op("=");
      n->expr = ep.parse_tuple_or_expression();
      ep.expect_end();
      return n;
    }
    if (tag == "macro") {
      auto n = node(Node::Kind::kMacro, pos);
      n->text = ep.expect_name();
      ep.expect_op("(");
      while (!ep.is_op(")")) {
        std::string param = ep.expect_name();
        ExprPtr def;
        if (ep.is_op("=")) {
          ep.next();
          def = ep.parse_expression();
        }
        n->params.emplace_back(param, std::move(def));
        if (!ep.is_op(",")) break;
        ep.next();
      }
      ep.expect_op(")");
      ep.expect_end();
      std::string end;
      n->body = parse_body({"endmacro"}, &end);
      take_end_tag();
      return n;
    }
    if (tag == "break" || tag == "continue") {
      ep.expect_end();
      return node(tag == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, pos);
    }
    if (tag == "filter") {
      auto n = node(Node::Kind::kFilterBlock, pos);
      n->expr = ep.parse_filter_call(nullptr);
      while (ep.is_op("|")) {
        ep.next();
        n->expr = ep.parse_filter_call(std::move(n->expr));
      }
      ep.expect_end();
      std::string end;
      n->body = parse_body({"endfilter"}, &end);
      take_end_tag().expect_end();
      return n;
    }
    if (tag == "generation") {  // transformers' assistant-mask marker: renders its body as is
      ep.expect_end();
      auto n = node(Node::Kind::kIf, pos);
      auto yes = make(Expr::Kind::kLiteral, pos);
      yes->value = Value(true);
      std::string end;
      n->branches.emplace_back(std::move(yes), parse_body({"endgeneration"}, &end));
      take_end_tag().expect_end();
      return n;
    }
    error_at(pos, "unknown or unsupported statement '{% " + tag + " %}'");
  }

  static NodePtr node(Node::Kind k, Pos p) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->pos = p;
    return n;
  }

  static constexpr int kMaxDepth = 64;
  std::vector<Chunk> chunks_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) {
  Lexer lexer(source);
  Parser parser(lexer.run());
  return parser.parse_all();
}

}  // namespace khub::jinja
