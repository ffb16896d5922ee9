// The statement parser of khub's Jinja subset: the lexer's chunks (lexer.h) -> the template's
// body (ast.h), expressions parsed by expression_parser.h.
#include <algorithm>
#include <set>

#include "core/error.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/expression_parser.h"
#include "tokenizer/jinja/lexer.h"

namespace khub::jinja {
namespace {

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
  Parser parser(lex_template(source));
  return parser.parse_all();
}

}  // namespace khub::jinja
