// The lexer of khub's Jinja subset: a template's source -> chunks (text, {{ expression }},
// {% statement %}) with each expression's or statement's tokens. Whitespace handling follows
// Jinja with the settings transformers uses for chat templates: trim_blocks and lstrip_blocks on,
// '-' and '+' modifiers, one trailing newline of the source dropped, line endings normalized to
// "\n". Internal to the Jinja engine (parser.cc).
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja/ast.h"

namespace khub::jinja {

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

// The chunks of `source`, in order; throws Error(kFormat) at the first lexical error.
std::vector<Chunk> lex_template(const std::string& source);

// A template error at `p`: Error(kFormat) "chat template line L, column C: msg".
[[noreturn]] void error_at(Pos p, const std::string& msg);

}  // namespace khub::jinja
