// The syntax tree of khub's Jinja engine (see chat_template.h). Positions are 1-based line and
// column in the template source, for error messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace khub::jinja {

struct Pos {
  int line = 0, col = 0;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // value
    kName,     // name
    kList,     // items
    kTuple,    // items
    kDict,     // keys (items at even index) and values (odd index)
    kAttr,     // a.name
    kIndex,    // a[b]
    kSlice,    // a[b:c:d], each may be null
    kCall,     // a(items, kwargs)
    kFilter,   // a | name(items, kwargs); a is null inside {% filter %}
    kTest,     // a is [not] name(items)
    kUnary,    // name in {"-", "+", "not"} applied to a
    kBinary,   // a name b: + - * / // % ** ~ == != < <= > >= in notin and or
    kCond,     // a if b else c (c may be null)
  };
  Kind kind;
  Pos pos;
  Value value;
  std::string name;
  bool negated = false;
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches (cond, body); else_body
    kFor,       // targets in expr [if cond]: body; else_body
    kSet,       // targets = expr, or target_obj.attr = expr
    kSetBlock,  // {% set target %}body{% endset %}
    kMacro,     // name(params): body
    kBreak,
    kContinue,
    kFilterBlock,  // {% filter f %}body{% endfilter %} (expr is a kFilter with a null input)
  };
  Kind kind;
  Pos pos;
  std::string text;
  ExprPtr expr, cond;
  std::vector<std::string> targets;
  std::string attr;  // kSet on a namespace attribute: targets[0].attr
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters and defaults
};

// Parses a template; throws khub::Error(kFormat) with "line L, column C" for anything outside the
// supported subset.
Body parse_template(const std::string& source);

}  // namespace khub::jinja
