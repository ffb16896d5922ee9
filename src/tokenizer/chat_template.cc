// The renderer of khub's Jinja engine: scopes as in Jinja (a for loop and a macro call open a
// scope, if does not; namespace() objects carry state out of loops), Python semantics for values.
#include "tokenizer/chat_template.h"

#include <cmath>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/builtins.h"

namespace khub {

using jinja::Body;
using jinja::CallArgs;
using jinja::Expr;
using jinja::List;
using jinja::Node;
using jinja::Pos;
using jinja::Value;

namespace {

constexpr const char* kPositionPrefix = "chat template line ";

[[noreturn]] void error_at(Pos p, const std::string& msg) {
  fail(ErrorKind::kInvalidArgument, kPositionPrefix, p.line, ", column ", p.col, ": ", msg);
}

class Renderer {
 public:
  explicit Renderer(const nlohmann::ordered_json& vars) {
    scopes_.emplace_back();
    if (!vars.is_object())
      fail(ErrorKind::kInvalidArgument, "chat template variables must be a JSON object");
    for (auto it = vars.begin(); it != vars.end(); ++it)
      scopes_[0][it.key()] = Value::from_json(it.value());
    builtins_.filter = [this](const std::string& n, Value in, CallArgs& a) {
      return jinja::apply_filter(n, std::move(in), a, builtins_);
    };
    builtins_.test = [](const std::string& n, const Value& v, CallArgs& a) {
      return jinja::apply_test(n, v, a);
    };
  }

  void exec(const Body& body, std::string& out) {
    for (const auto& n : body) {
      exec_node(*n, out);
      if (flow_ != Flow::kNormal) return;
    }
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Scope = std::unordered_map<std::string, Value>;

  // Runs f and adds the position to errors that do not carry one yet.
  template <typename F>
  auto at(Pos p, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Error& e) {
      if (std::string(e.what()).rfind(kPositionPrefix, 0) == 0) throw;
      error_at(p, e.what());
    }
  }

  Value lookup(const std::string& name) const {
    for (size_t i = scopes_.size(); i-- > 0;) {
      auto it = scopes_[i].find(name);
      if (it != scopes_[i].end()) return it->second;
    }
    return Value::undefined(name);
  }

  void exec_node(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText:
        out += n.text;
        return;
      case Node::Kind::kOutput: {
        Value v = eval(*n.expr);
        out += v.str();
        return;
      }
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (eval(*cond).truthy()) {
            exec(body, out);
            return;
          }
        }
        exec(n.else_body, out);
        return;
      case Node::Kind::kFor:
        exec_for(n, out);
        return;
      case Node::Kind::kSet: {
        Value v = eval(*n.expr);
        if (!n.attr.empty()) {
          Value obj = lookup(n.targets[0]);
          if (!obj.is_namespace())
            error_at(n.pos, "cannot set attribute '" + n.attr + "' of '" + n.targets[0] +
                                "': only namespace() objects can be modified");
          obj.set(n.attr, std::move(v));
          return;
        }
        assign(n.targets, std::move(v), n.pos);
        return;
      }
      case Node::Kind::kSetBlock: {
        std::string captured;
        exec(n.body, captured);
        scopes_.back()[n.targets[0]] = Value(captured);
        return;
      }
      case Node::Kind::kMacro:
        scopes_.back()[n.text] = make_macro(n);
        return;
      case Node::Kind::kBreak:
      case Node::Kind::kContinue:
        if (loop_depth_ == 0) error_at(n.pos, "break/continue outside of a loop");
        flow_ = n.kind == Node::Kind::kBreak ? Flow::kBreak : Flow::kContinue;
        return;
      case Node::Kind::kFilterBlock: {
        std::string captured;
        exec(n.body, captured);
        out += apply_filter_chain(*n.expr, Value(captured)).str();
        return;
      }
    }
  }

  Value apply_filter_chain(const Expr& f, Value input) {
    if (f.a) input = apply_filter_chain(*f.a, std::move(input));
    CallArgs args = eval_args(f);
    return at(f.pos,
              [&] { return jinja::apply_filter(f.name, std::move(input), args, builtins_); });
  }

  void assign(const std::vector<std::string>& targets, Value v, Pos p) {
    if (targets.size() == 1) {
      scopes_.back()[targets[0]] = std::move(v);
      return;
    }
    List items = at(p, [&] { return jinja::py_iterate(v); });
    if (items.size() != targets.size())
      error_at(p, "cannot unpack " + std::to_string(items.size()) + " values into " +
                      std::to_string(targets.size()) + " names");
    for (size_t i = 0; i < targets.size(); ++i) scopes_.back()[targets[i]] = items[i];
  }

  void exec_for(const Node& n, std::string& out) {
    Value iterable = eval(*n.expr);
    if (!iterable.is_list() && !iterable.is_dict() && !iterable.is_string() &&
        !iterable.is_undefined())
      error_at(n.expr->pos, "cannot iterate over " + iterable.repr());
    List all = at(n.pos, [&] { return jinja::py_iterate(iterable); });
    List items;
    if (n.cond) {
      for (auto& v : all) {
        scopes_.emplace_back();
        assign(n.targets, v, n.pos);
        bool keep = eval(*n.cond).truthy();
        scopes_.pop_back();
        if (keep) items.push_back(v);
      }
    } else {
      items = std::move(all);
    }
    if (items.empty()) {
      exec(n.else_body, out);
      return;
    }
    ++loop_depth_;
    scopes_.emplace_back();
    const size_t len = items.size();
    for (size_t i = 0; i < len; ++i) {
      Scope& scope = scopes_.back();
      jinja::Dict loop = {
          {"index", Value(static_cast<int64_t>(i + 1))},
          {"index0", Value(static_cast<int64_t>(i))},
          {"revindex", Value(static_cast<int64_t>(len - i))},
          {"revindex0", Value(static_cast<int64_t>(len - i - 1))},
          {"first", Value(i == 0)},
          {"last", Value(i + 1 == len)},
          {"length", Value(static_cast<int64_t>(len))},
          {"depth", Value(int64_t{1})},
          {"depth0", Value(int64_t{0})},
      };
      if (i > 0) loop.emplace_back("previtem", items[i - 1]);
      if (i + 1 < len) loop.emplace_back("nextitem", items[i + 1]);
      loop.emplace_back("cycle", Value::function([i](CallArgs& a) {
                          if (a.positional.empty())
                            fail(ErrorKind::kInvalidArgument, "loop.cycle() needs arguments");
                          return a.positional[i % a.positional.size()];
                        }));
      scope["loop"] = Value::dict(std::move(loop));
      assign(n.targets, items[i], n.pos);
      exec(n.body, out);
      if (flow_ == Flow::kBreak) {
        flow_ = Flow::kNormal;
        break;
      }
      flow_ = Flow::kNormal;
    }
    scopes_.pop_back();
    --loop_depth_;
  }

  Value make_macro(const Node& n) {
    const Node* node = &n;
    return Value::function([this, node](CallArgs& a) {
      Scope scope;
      size_t k = 0;
      for (const auto& [param, dflt] : node->params) {
        const Value* given = nullptr;
        if (k < a.positional.size()) given = &a.positional[k];
        for (auto& [key, v] : a.keyword)
          if (key == param) given = &v;
        ++k;
        scope[param] = given ? *given : (dflt ? eval(*dflt) : Value::undefined(param));
      }
      if (a.positional.size() > node->params.size())
        error_at(node->pos, "macro '" + node->text + "' takes " +
                                std::to_string(node->params.size()) + " arguments");
      if (call_depth_ >= kMaxCallDepth)
        error_at(node->pos, "macro calls nested too deeply (recursion?)");
      ++call_depth_;
      struct Leave {
        int& d;
        ~Leave() { --d; }
      } leave{call_depth_};
      // A macro sees the template's globals and its own arguments, not the caller's locals.
      std::vector<Scope> saved;
      saved.swap(scopes_);
      scopes_.push_back(saved[0]);
      scopes_.push_back(std::move(scope));
      int saved_depth = loop_depth_;
      loop_depth_ = 0;
      std::string out;
      try {
        exec(node->body, out);
      } catch (...) {
        saved[0] = std::move(scopes_[0]);
        scopes_.swap(saved);
        loop_depth_ = saved_depth;
        throw;
      }
      saved[0] = std::move(scopes_[0]);
      scopes_.swap(saved);
      loop_depth_ = saved_depth;
      return Value(out);
    });
  }

  CallArgs eval_args(const Expr& e) {
    CallArgs a;
    for (const auto& x : e.items) a.positional.push_back(eval(*x));
    for (const auto& [k, x] : e.kwargs) a.keyword.emplace_back(k, eval(*x));
    return a;
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.value;
      case Expr::Kind::kName:
        return lookup(e.name);
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        List items;
        for (const auto& x : e.items) items.push_back(eval(*x));
        return Value::list(std::move(items), e.kind == Expr::Kind::kTuple);
      }
      case Expr::Kind::kDict: {
        jinja::Dict d;
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          Value k = eval(*e.items[i]);
          if (!k.is_string()) error_at(e.items[i]->pos, "dict keys must be strings");
          Value v = eval(*e.items[i + 1]);
          bool replaced = false;
          for (auto& kv : d)
            if (kv.first == k.as_string()) kv.second = v, replaced = true;
          if (!replaced) d.emplace_back(k.as_string(), v);
        }
        return Value::dict(std::move(d));
      }
      case Expr::Kind::kAttr: {
        Value obj = eval(*e.a);
        if (obj.is_undefined()) error_at(e.pos, undefined_message(obj, *e.a));
        return jinja::py_getitem(obj, Value(e.name));
      }
      case Expr::Kind::kIndex: {
        Value obj = eval(*e.a);
        if (obj.is_undefined()) error_at(e.pos, undefined_message(obj, *e.a));
        return jinja::py_getitem(obj, eval(*e.b));
      }
      case Expr::Kind::kSlice: {
        Value obj = eval(*e.a);
        Value lo = e.b ? eval(*e.b) : Value::none();
        Value hi = e.c ? eval(*e.c) : Value::none();
        Value st = e.items.empty() ? Value::none() : eval(*e.items[0]);
        return at(e.pos, [&] { return jinja::py_slice(obj, &lo, &hi, &st); });
      }
      case Expr::Kind::kCall:
        return eval_call(e);
      case Expr::Kind::kFilter: {
        if (!jinja::has_filter(e.name)) error_at(e.pos, "unknown filter '" + e.name + "'");
        Value in = eval(*e.a);
        CallArgs args = eval_args(e);
        return at(e.pos,
                  [&] { return jinja::apply_filter(e.name, std::move(in), args, builtins_); });
      }
      case Expr::Kind::kTest: {
        if (!jinja::has_test(e.name)) error_at(e.pos, "unknown test '" + e.name + "'");
        Value in = eval(*e.a);
        CallArgs args = eval_args(e);
        bool r = at(e.pos, [&] { return jinja::apply_test(e.name, in, args); });
        return Value(e.negated ? !r : r);
      }
      case Expr::Kind::kUnary: {
        Value v = eval(*e.a);
        if (e.name == "not") return Value(!v.truthy());
        if (v.is_int() || v.is_bool()) {
          if (e.name == "-" && v.as_int() == INT64_MIN) error_at(e.pos, "integer overflow");
          return Value(e.name == "-" ? -v.as_int() : v.as_int());
        }
        if (v.is_float()) return Value(e.name == "-" ? -v.as_double() : v.as_double());
        error_at(e.pos, "bad operand for unary " + e.name + ": " + v.repr());
      }
      case Expr::Kind::kBinary:
        return eval_binary(e);
      case Expr::Kind::kCond:
        if (eval(*e.b).truthy()) return eval(*e.a);
        return e.c ? eval(*e.c) : Value::undefined();
    }
    error_at(e.pos, "unsupported expression");
  }

  static std::string undefined_message(const Value& v, const Expr& src) {
    std::string name = v.undefined_name();
    if (name.empty() && src.kind == Expr::Kind::kName) name = src.name;
    return "'" + name + "' is undefined";
  }

  Value eval_call(const Expr& e) {
    const Expr& callee = *e.a;
    if (callee.kind == Expr::Kind::kAttr) {
      Value obj = eval(*callee.a);
      if (obj.is_undefined()) error_at(callee.pos, undefined_message(obj, *callee.a));
      CallArgs args = eval_args(e);
      Value out;
      if (at(e.pos, [&] { return jinja::call_method(obj, callee.name, args, &out); })) return out;
      Value fn = jinja::py_getitem(obj, Value(callee.name));
      if (!fn.is_function())
        error_at(callee.pos, "'" + callee.name + "' is not a method of " + obj.repr());
      return at(e.pos, [&] { return fn.as_function()(args); });
    }
    if (callee.kind == Expr::Kind::kName) {
      Value fn = lookup(callee.name);
      if (fn.is_undefined() && jinja::is_global_function(callee.name)) {
        CallArgs args = eval_args(e);
        Value out;
        at(e.pos, [&] { return jinja::call_global(callee.name, args, &out); });
        return out;
      }
      if (!fn.is_function())
        error_at(callee.pos, fn.is_undefined() ? "unknown function '" + callee.name + "'"
                                               : "'" + callee.name + "' is not callable");
      CallArgs args = eval_args(e);
      return at(e.pos, [&] { return fn.as_function()(args); });
    }
    Value fn = eval(callee);
    if (!fn.is_function()) error_at(e.pos, fn.repr() + " is not callable");
    CallArgs args = eval_args(e);
    return at(e.pos, [&] { return fn.as_function()(args); });
  }

  Value eval_binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Value a = eval(*e.a);
      return a.truthy() ? eval(*e.b) : a;
    }
    if (op == "or") {
      Value a = eval(*e.a);
      return a.truthy() ? a : eval(*e.b);
    }
    Value a = eval(*e.a), b = eval(*e.b);
    return at(e.pos, [&] { return binary(op, a, b, *e.a, *e.b); });
  }

  static Value binary(const std::string& op, const Value& a, const Value& b, const Expr& ea,
                      const Expr& eb) {
    if (op == "~") return Value(a.str() + b.str());
    if (op == "==") return Value(a.equals(b));
    if (op == "!=") return Value(!a.equals(b));
    if (op == "<") return Value(Value::compare(a, b) < 0);
    if (op == "<=") return Value(Value::compare(a, b) <= 0);
    if (op == ">") return Value(Value::compare(a, b) > 0);
    if (op == ">=") return Value(Value::compare(a, b) >= 0);
    if (op == "in") return Value(jinja::py_contains(b, a));
    if (op == "notin") return Value(!jinja::py_contains(b, a));
    for (const auto* v : {&a, &b}) {
      if (v->is_undefined())
        fail(ErrorKind::kInvalidArgument, undefined_message(*v, v == &a ? ea : eb));
    }
    bool num = (a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool());
    bool flt = a.is_float() || b.is_float();
    // Python integers do not overflow; khub's are 64-bit and report overflow as an error.
    // (Each builtin writes its result before `checked` reads it.)
    auto checked = [](bool overflow, const int64_t& r) {
      if (overflow) fail(ErrorKind::kInvalidArgument, "integer overflow");
      return Value(r);
    };
    int64_t r = 0;
    if (op == "+") {
      if (num)
        return flt ? Value(a.as_double() + b.as_double())
                   : checked(__builtin_add_overflow(a.as_int(), b.as_int(), &r), r);
      if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
      if (a.is_list() && b.is_list()) {
        List l = a.as_list();
        l.insert(l.end(), b.as_list().begin(), b.as_list().end());
        return Value::list(std::move(l));
      }
    } else if (op == "-" && num) {
      return flt ? Value(a.as_double() - b.as_double())
                 : checked(__builtin_sub_overflow(a.as_int(), b.as_int(), &r), r);
    } else if (op == "*") {
      if (num)
        return flt ? Value(a.as_double() * b.as_double())
                   : checked(__builtin_mul_overflow(a.as_int(), b.as_int(), &r), r);
      const Value* s = a.is_string() ? &a : (b.is_string() ? &b : nullptr);
      const Value* n = a.is_int() ? &a : (b.is_int() ? &b : nullptr);
      if (s && n) {
        std::string out;
        if (s->as_string().empty()) return Value(out);
        for (int64_t i = 0; i < n->as_int() && out.size() < (1u << 26); ++i) out += s->as_string();
        return Value(out);
      }
    } else if (op == "/" && num) {
      if (b.as_double() == 0) fail(ErrorKind::kInvalidArgument, "division by zero");
      return Value(a.as_double() / b.as_double());
    } else if ((op == "//" || op == "%") && num) {
      if (b.as_double() == 0) fail(ErrorKind::kInvalidArgument, "division by zero");
      if (flt) {
        double q = std::floor(a.as_double() / b.as_double());
        return op == "//" ? Value(q) : Value(a.as_double() - q * b.as_double());
      }
      int64_t x = a.as_int(), y = b.as_int();
      if (x == INT64_MIN && y == -1) fail(ErrorKind::kInvalidArgument, "integer overflow");
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;  // floor division
      return op == "//" ? Value(q) : Value(x - q * y);
    } else if (op == "%" && a.is_string()) {
      CallArgs args;
      args.positional = b.is_tuple() ? b.as_list() : List{b};
      jinja::Builtins none;
      return jinja::apply_filter("format", a, args, none);
    } else if (op == "**" && num) {
      if (!flt && b.as_int() >= 0) {
        int64_t p = 1;
        for (int64_t i = 0; i < b.as_int() && p != 0; ++i)
          if (__builtin_mul_overflow(p, a.as_int(), &p))
            fail(ErrorKind::kInvalidArgument, "integer overflow");
        return Value(p);
      }
      return Value(std::pow(a.as_double(), b.as_double()));
    }
    fail(ErrorKind::kInvalidArgument, "unsupported operand types for ", op, ": ", a.repr(), " and ",
         b.repr());
  }

  std::vector<Scope> scopes_;
  jinja::Builtins builtins_;
  static constexpr int kMaxCallDepth = 32;
  Flow flow_ = Flow::kNormal;
  int loop_depth_ = 0;
  int call_depth_ = 0;
};

}  // namespace

namespace {

// Unknown filters and tests are reported when the template is loaded, with their position.
void check_names(const Expr& e) {
  if (e.kind == Expr::Kind::kFilter && !jinja::has_filter(e.name))
    fail(ErrorKind::kFormat, kPositionPrefix, e.pos.line, ", column ", e.pos.col,
         ": unknown filter '", e.name, "'");
  if (e.kind == Expr::Kind::kTest && !jinja::has_test(e.name))
    fail(ErrorKind::kFormat, kPositionPrefix, e.pos.line, ", column ", e.pos.col,
         ": unknown test '", e.name, "'");
  for (const Expr* x : {e.a.get(), e.b.get(), e.c.get()})
    if (x) check_names(*x);
  for (const auto& x : e.items) check_names(*x);
  for (const auto& kv : e.kwargs) check_names(*kv.second);
}

void check_names(const Body& body) {
  for (const auto& n : body) {
    for (const Expr* x : {n->expr.get(), n->cond.get()})
      if (x) check_names(*x);
    for (const auto& [cond, b] : n->branches) {
      check_names(*cond);
      check_names(b);
    }
    for (const auto& kv : n->params)
      if (kv.second) check_names(*kv.second);
    check_names(n->body);
    check_names(n->else_body);
  }
}

}  // namespace

struct ChatTemplate::Impl {
  Body body;
};

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->body = jinja::parse_template(source);
  check_names(impl_->body);
}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::ordered_json& variables) const {
  Renderer r(variables);
  std::string out;
  r.exec(impl_->body, out);
  return out;
}

}  // namespace khub
