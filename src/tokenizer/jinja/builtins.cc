#include "tokenizer/jinja/builtins.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "tokenizer/jinja/py_str.h"
#include "tokenizer/unicode_text.h"

namespace khub::jinja {
namespace {

const std::set<std::string>& filter_names() {
  static const std::set<std::string> names = {
      "abs",   "attr",   "capitalize", "count",      "d",       "default",   "dictsort",
      "e",     "escape", "first",      "float",      "format",  "indent",    "int",
      "items", "join",   "last",       "length",     "list",    "lower",     "map",
      "max",   "min",    "reject",     "rejectattr", "replace", "reverse",   "round",
      "safe",  "select", "selectattr", "sort",       "string",  "striptags", "sum",
      "title", "tojson", "trim",       "unique",     "upper",   "wordcount"};
  return names;
}

const std::set<std::string>& test_names() {
  static const std::set<std::string> names = {
      "boolean", "callable", "defined",   "divisibleby", "eq",          "equalto",
      "even",    "false",    "float",     "ge",          "gt",          "in",
      "integer", "iterable", "le",        "lower",       "lt",          "mapping",
      "ne",      "none",     "number",    "odd",         "sameas",      "sequence",
      "string",  "true",     "undefined", "upper",       "==",          "!=",
      "<",       "<=",       ">",         ">=",          "greaterthan", "lessthan"};
  return names;
}

// Python's round() on floats: round-half-even at the given number of digits.
double py_round(double x, int64_t digits) {
  double scale = std::pow(10.0, static_cast<double>(digits));
  double y = x * scale;
  double r = std::nearbyint(y);  // default rounding mode: to nearest, ties to even
  return r / scale;
}

}  // namespace

size_t py_len(const Value& v) {
  if (v.is_string()) return char_offsets(v.as_string()).size() - 1;
  if (v.is_list()) return v.as_list().size();
  if (v.is_dict()) return v.as_dict().size();
  if (v.is_undefined()) return 0;
  bad("object of type " + std::string(v.is_none() ? "NoneType" : "this type") +
      " has no len(): " + v.repr());
}

Value py_getitem(const Value& obj, const Value& key) {
  if (obj.is_dict()) {
    if (!key.is_string()) return Value::undefined();
    const Value* v = obj.find(key.as_string());
    return v ? *v : Value::undefined(key.as_string());
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t n = static_cast<int64_t>(py_len(obj)), i = key.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined();
    if (obj.is_list()) return obj.as_list()[static_cast<size_t>(i)];
    auto off = char_offsets(obj.as_string());
    return Value(obj.as_string().substr(off[i], off[i + 1] - off[i]));
  }
  return Value::undefined(key.is_string() ? key.as_string() : key.repr());
}

Value py_slice(const Value& obj, const Value* start, const Value* stop, const Value* step) {
  if (!obj.is_list() && !obj.is_string()) bad("cannot slice " + obj.repr());
  int64_t n = static_cast<int64_t>(py_len(obj));
  auto get = [](const Value* v, int64_t dflt) {
    if (v == nullptr || v->is_none() || v->is_undefined()) return dflt;
    if (!v->is_int()) bad("slice indices must be integers");
    return v->as_int();
  };
  int64_t st = get(step, 1);
  if (st == 0) bad("slice step cannot be zero");
  int64_t lo, hi;
  auto clamp = [&](int64_t i, int64_t low, int64_t high) {
    if (i < 0) i += n;
    return std::max(low, std::min(high, i));
  };
  if (st > 0) {
    lo = start && !start->is_none() ? clamp(get(start, 0), 0, n) : 0;
    hi = stop && !stop->is_none() ? clamp(get(stop, n), 0, n) : n;
  } else {
    lo = start && !start->is_none() ? clamp(get(start, n - 1), -1, n - 1) : n - 1;
    hi = stop && !stop->is_none() ? clamp(get(stop, -1), -1, n - 1) : -1;
    if (stop && !stop->is_none() && get(stop, -1) < -n) hi = -1;
  }
  std::vector<int64_t> idx;
  if (st > 0) {
    for (int64_t i = lo; i < hi; i += st) idx.push_back(i);
  } else {
    for (int64_t i = lo; i > hi; i += st) idx.push_back(i);
  }
  if (obj.is_list()) {
    List out;
    for (int64_t i : idx) out.push_back(obj.as_list()[static_cast<size_t>(i)]);
    return Value::list(std::move(out), obj.is_tuple());
  }
  auto off = char_offsets(obj.as_string());
  std::string out;
  for (int64_t i : idx) out += obj.as_string().substr(off[i], off[i + 1] - off[i]);
  return Value(out);
}

List py_iterate(const Value& v) {
  if (v.is_list()) return v.as_list();
  if (v.is_dict()) {
    List keys;
    for (const auto& kv : v.as_dict()) keys.push_back(Value(kv.first));
    return keys;
  }
  if (v.is_string()) {
    List chars;
    auto off = char_offsets(v.as_string());
    for (size_t k = 0; k + 1 < off.size(); ++k)
      chars.push_back(Value(v.as_string().substr(off[k], off[k + 1] - off[k])));
    return chars;
  }
  if (v.is_undefined()) return {};
  bad(v.repr() + " is not iterable");
}

bool py_contains(const Value& c, const Value& item) {
  if (c.is_string()) {
    if (!item.is_string()) bad("'in <string>' requires a string as left operand");
    return c.as_string().find(item.as_string()) != std::string::npos;
  }
  if (c.is_dict()) return item.is_string() && c.find(item.as_string()) != nullptr;
  if (c.is_list()) {
    for (const auto& v : c.as_list())
      if (v.equals(item)) return true;
    return false;
  }
  if (c.is_undefined()) return false;
  bad("argument of type " + c.repr() + " is not iterable");
}

bool has_filter(const std::string& name) { return filter_names().count(name) > 0; }
bool has_test(const std::string& name) { return test_names().count(name) > 0; }

Value apply_filter(const std::string& name, Value in, CallArgs& a, const Builtins& self) {
  if (name == "length" || name == "count") return Value(static_cast<int64_t>(py_len(in)));
  if (name == "default" || name == "d") {
    const Value* dflt = arg(a, 0, "default_value");
    const Value* boolean = arg(a, 1, "boolean");
    bool use = in.is_undefined() || (boolean && boolean->truthy() && !in.truthy());
    return use ? (dflt ? *dflt : Value(std::string())) : in;
  }
  if (name == "safe" || name == "string") return name == "safe" ? in : Value(in.str());
  if (name == "trim") return Value(strip_chars(in.str(), arg(a, 0, "chars"), true, true));
  if (name == "upper") return Value(map_case(in.str(), true));
  if (name == "lower") return Value(map_case(in.str(), false));
  if (name == "capitalize") return Value(capitalize(in.str()));
  if (name == "title") return Value(jinja_title(in.str()));
  if (name == "replace") {
    const Value* from = arg(a, 0, "old");
    const Value* to = arg(a, 1, "new");
    const Value* count = arg(a, 2, "count");
    if (!from || !to) bad("replace: expected old and new strings");
    return Value(replace_all(in.str(), from->str(), to->str(), count ? count->as_int() : -1));
  }
  if (name == "join") {
    const Value* sep = arg(a, 0, "d");
    const Value* attr = arg(a, 1, "attribute");
    List items = py_iterate(in);
    if (attr)
      for (auto& v : items) v = attribute_of(v, attr->str());
    return Value(py_str_join(items, sep ? sep->str() : ""));
  }
  if (name == "first" || name == "last") {
    List items = py_iterate(in);
    if (items.empty()) return Value::undefined();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value::list(py_iterate(in));
  if (name == "reverse") {
    if (in.is_string()) {
      Value minus_one(int64_t{-1});
      return py_slice(in, nullptr, nullptr, &minus_one);
    }
    List items = py_iterate(in);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "int") {
    const Value* dflt = arg(a, 0, "default");
    if (in.is_int() || in.is_bool()) return Value(in.as_int());
    if (in.is_float()) return Value(float_to_int(in.as_double()));
    if (in.is_string()) {
      const std::string s = strip_chars(in.as_string(), nullptr, true, true);
      char* end = nullptr;
      long long v = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end && *end == '\0') return Value(static_cast<int64_t>(v));
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end && *end == '\0') return Value(float_to_int(d));
    }
    return dflt ? *dflt : Value(int64_t{0});
  }
  if (name == "float") {
    const Value* dflt = arg(a, 0, "default");
    if (in.is_number() || in.is_bool()) return Value(in.as_double());
    if (in.is_string()) {
      char* end = nullptr;
      double d = std::strtod(in.as_string().c_str(), &end);
      if (!in.as_string().empty() && end && *end == '\0') return Value(d);
    }
    return dflt ? *dflt : Value(0.0);
  }
  if (name == "abs") {
    if (in.is_int() && in.as_int() == INT64_MIN) bad("integer overflow");
    if (in.is_int()) return Value(in.as_int() < 0 ? -in.as_int() : in.as_int());
    if (in.is_float()) return Value(std::fabs(in.as_double()));
    bad("abs: expected a number, got " + in.repr());
  }
  if (name == "round") {
    const Value* prec = arg(a, 0, "precision");
    const Value* method = arg(a, 1, "method");
    std::string m = method ? method->str() : "common";
    int64_t p = prec ? prec->as_int() : 0;
    double x = in.as_double(), scale = std::pow(10.0, static_cast<double>(p));
    // Jinja's "common" method is Python's round(): halves go to the even neighbour.
    double r = m == "common"  ? py_round(x, p)
               : m == "floor" ? std::floor(x * scale) / scale
               : m == "ceil"  ? std::ceil(x * scale) / scale
                              : py_round(x, p);
    return Value(r);
  }
  if (name == "tojson") {
    const Value* indent = arg(a, 0, "indent");
    const Value* sort = arg(a, 3, "sort_keys");
    int ind = indent && indent->is_int() ? static_cast<int>(indent->as_int()) : -1;
    return Value(in.to_json(ind, sort && sort->truthy()));
  }
  if (name == "items") {
    if (in.is_undefined()) return Value::list({});
    if (!in.is_dict()) bad("items: expected a mapping, got " + in.repr());
    List out;
    for (const auto& [k, v] : in.as_dict()) out.push_back(Value::list({Value(k), v}, true));
    return Value::list(std::move(out));
  }
  if (name == "dictsort") {
    if (!in.is_dict()) bad("dictsort: expected a mapping");
    const Value* by = arg(a, 1, "by");
    const Value* rev = arg(a, 2, "reverse");
    bool by_value = by && by->str() == "value";
    List out;
    for (const auto& [k, v] : in.as_dict()) out.push_back(Value::list({Value(k), v}, true));
    std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
      return Value::compare(x.as_list()[by_value], y.as_list()[by_value]) < 0;
    });
    if (rev && rev->truthy()) std::reverse(out.begin(), out.end());
    return Value::list(std::move(out));
  }
  if (name == "sort") {
    const Value* rev = arg(a, 0, "reverse");
    const Value* attr = arg(a, 2, "attribute");
    List items = py_iterate(in);
    auto key = [&](const Value& v) { return attr ? attribute_of(v, attr->str()) : v; };
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      return Value::compare(key(x), key(y)) < 0;
    });
    if (rev && rev->truthy()) std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "unique") {
    List out;
    for (const auto& v : py_iterate(in)) {
      bool seen = false;
      for (const auto& o : out) seen = seen || o.equals(v);
      if (!seen) out.push_back(v);
    }
    return Value::list(std::move(out));
  }
  if (name == "sum") {
    const Value* attr = arg(a, 0, "attribute");
    const Value* start = arg(a, 1, "start");
    Value acc = start ? *start : Value(int64_t{0});
    for (const auto& v0 : py_iterate(in)) {
      Value v = attr ? attribute_of(v0, attr->str()) : v0;
      if (acc.is_float() || v.is_float()) {
        acc = Value(acc.as_double() + v.as_double());
      } else {
        int64_t r;
        if (__builtin_add_overflow(acc.as_int(), v.as_int(), &r)) bad("integer overflow");
        acc = Value(r);
      }
    }
    return acc;
  }
  if (name == "max" || name == "min") {
    List items = py_iterate(in);
    if (items.empty()) return Value::undefined();
    Value best = items[0];
    for (const auto& v : items) {
      int c = Value::compare(v, best);
      if ((name == "max" && c > 0) || (name == "min" && c < 0)) best = v;
    }
    return best;
  }
  if (name == "map") {
    List out;
    const Value* attr = nullptr;
    for (auto& [k, v] : a.keyword)
      if (k == "attribute") attr = &v;
    if (attr) {
      const Value* dflt = nullptr;
      for (auto& [k, v] : a.keyword)
        if (k == "default") dflt = &v;
      for (const auto& v : py_iterate(in)) {
        Value r = attribute_of(v, attr->str());
        out.push_back(r.is_undefined() && dflt ? *dflt : r);
      }
      return Value::list(std::move(out));
    }
    if (a.positional.empty()) bad("map: expected a filter name or attribute=");
    std::string f = a.positional[0].str();
    CallArgs rest;
    rest.positional.assign(a.positional.begin() + 1, a.positional.end());
    for (const auto& v : py_iterate(in)) {
      CallArgs copy = rest;
      out.push_back(self.filter(f, v, copy));
    }
    return Value::list(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    bool by_attr = name == "selectattr" || name == "rejectattr";
    bool keep_if = name == "select" || name == "selectattr";
    size_t k = 0;
    std::string attr;
    if (by_attr) {
      if (a.positional.empty()) bad(name + ": expected an attribute name");
      attr = a.positional[k++].str();
    }
    std::string test = k < a.positional.size() ? a.positional[k++].str() : "";
    CallArgs rest;
    rest.positional.assign(
        a.positional.begin() + static_cast<std::ptrdiff_t>(std::min(k, a.positional.size())),
        a.positional.end());
    List out;
    for (const auto& v : py_iterate(in)) {
      Value x = by_attr ? attribute_of(v, attr) : v;
      CallArgs copy = rest;
      bool r = test.empty() ? x.truthy() : self.test(test, x, copy);
      if (r == keep_if) out.push_back(v);
    }
    return Value::list(std::move(out));
  }
  if (name == "indent") {
    const Value* width = arg(a, 0, "width");
    const Value* first = arg(a, 1, "first");
    const Value* blank = arg(a, 2, "blank");
    std::string pad = width && width->is_string() ? width->as_string()
                                                  : std::string(width ? width->as_int() : 4, ' ');
    return Value(indent_text(in.str(), pad, first && first->truthy(), blank && blank->truthy()));
  }
  if (name == "format") return Value(percent_format(in.str(), a.positional));
  if (name == "wordcount")
    return Value(static_cast<int64_t>(py_split(in.str(), nullptr, -1).size()));
  if (name == "attr") {
    const Value* n = arg(a, 0, "name");
    return n ? py_getitem(in, *n) : Value::undefined();
  }
  if (name == "escape" || name == "e") {
    std::string out;
    for (char c : in.str()) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&#34;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out.push_back(c);
      }
    }
    return Value(out);
  }
  if (name == "striptags") bad("striptags is not supported");
  bad("unknown filter '" + name + "'");
}

bool apply_test(const std::string& name, const Value& v, CallArgs& a) {
  const Value* x = arg(a, 0, "other");
  auto need = [&]() -> const Value& {
    if (!x) bad("test '" + name + "' needs an argument");
    return *x;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "callable") return v.is_function();
  if (name == "odd" || name == "even") {
    if (!v.is_int()) bad("test '" + name + "' needs an integer, got " + v.repr());
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    int64_t d = need().as_int();
    if (d == 0) bad("divisibleby 0");
    if (d == -1) return true;
    return v.as_int() % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return v.equals(need());
  if (name == "ne" || name == "!=") return !v.equals(need());
  if (name == "lt" || name == "<" || name == "lessthan") return Value::compare(v, need()) < 0;
  if (name == "le" || name == "<=") return Value::compare(v, need()) <= 0;
  if (name == "gt" || name == ">" || name == "greaterthan") return Value::compare(v, need()) > 0;
  if (name == "ge" || name == ">=") return Value::compare(v, need()) >= 0;
  if (name == "in") return py_contains(need(), v);
  if (name == "sameas") {
    const Value& o = need();
    if (v.is_none() || v.is_bool() || o.is_none() || o.is_bool())
      return v.kind() == o.kind() && v.equals(o);
    return false;
  }
  if (name == "lower") return v.is_string() && map_case(v.as_string(), false) == v.as_string();
  if (name == "upper") return v.is_string() && map_case(v.as_string(), true) == v.as_string();
  bad("unknown test '" + name + "'");
}

}  // namespace khub::jinja
