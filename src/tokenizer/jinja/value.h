// The values of khub's Jinja engine (chat templates): Python-like undefined, None, bool, int,
// float, str, list/tuple, dict (insertion-ordered, as Python's), namespace and callables, with
// Python's printing (str/repr) and json.dumps formatting, because templates print them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace khub::jinja {

class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order; keys are strings

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};
using Function = std::function<Value(CallArgs&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value undefined(std::string name = "") {
    Value v;
    v.str_ = std::make_shared<std::string>(std::move(name));
    return v;
  }
  static Value none() { return Value(Kind::kNone); }
  Value(bool b) : kind_(Kind::kBool), b_(b) {}
  Value(int64_t i) : kind_(Kind::kInt), i_(i) {}
  Value(int i) : kind_(Kind::kInt), i_(i) {}
  Value(double d) : kind_(Kind::kFloat), d_(d) {}
  Value(std::string s) : kind_(Kind::kString), str_(std::make_shared<std::string>(std::move(s))) {}
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(List items, bool tuple = false) {
    Value v(Kind::kList);
    v.list_ = std::make_shared<List>(std::move(items));
    v.tuple_ = tuple;
    return v;
  }
  static Value dict(Dict items, bool is_namespace = false) {
    Value v(Kind::kDict);
    v.dict_ = std::make_shared<Dict>(std::move(items));
    v.namespace_ = is_namespace;
    return v;
  }
  static Value function(Function f) {
    Value v(Kind::kFunction);
    v.fn_ = std::make_shared<Function>(std::move(f));
    return v;
  }
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kList && tuple_; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kDict && namespace_; }
  bool is_function() const { return kind_ == Kind::kFunction; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_double() const { return kind_ == Kind::kFloat ? d_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return *str_; }
  const List& as_list() const { return *list_; }
  List& mutable_list() const { return *list_; }
  const Dict& as_dict() const { return *dict_; }
  Dict& mutable_dict() const { return *dict_; }
  const Function& as_function() const { return *fn_; }
  // The variable name an undefined value came from (for error messages).
  std::string undefined_name() const { return str_ ? *str_ : ""; }

  // Dict lookup; nullptr when absent.
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v) const;

  bool truthy() const;
  // Python str() and repr().
  std::string str() const;
  std::string repr() const;
  // Python json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys); indent < 0
  // means none (separators ", " and ": ").
  std::string to_json(int indent = -1, bool sort_keys = false) const;
  nlohmann::ordered_json to_json_value() const;

  // Python ==, and ordering for numbers and strings (throws for other kinds).
  bool equals(const Value& other) const;
  static int compare(const Value& a, const Value& b);

 private:
  explicit Value(Kind k) : kind_(k) {}
  void dump_json(std::string& out, int indent, int depth, bool sort_keys) const;

  Kind kind_ = Kind::kUndefined;
  bool b_ = false, tuple_ = false, namespace_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<std::string> str_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

// Python's repr() of a float ("3.5", "2.0", "1e-05", "1e+16", "inf").
std::string python_float_repr(double d);
// Python's repr() of a str.
std::string python_str_repr(const std::string& s);

}  // namespace khub::jinja
