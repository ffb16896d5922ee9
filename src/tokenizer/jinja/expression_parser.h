// The expression parser of khub's Jinja subset: recursive descent over one chunk's tokens, with
// Jinja's precedence. Internal to the Jinja engine: the statement parser (parser.cc) is its one
// user, and it is defined here, inline, because that parser drives it token by token.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"

namespace khub::jinja {

inline ExprPtr make(Expr::Kind k, Pos p) {
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

}  // namespace khub::jinja
