// The methods templates call on values (str, dict and list methods) and the global functions
// (range, namespace, raise_exception, strftime_now, ...): builtins.h's call_method and call_global.
#include <utf8proc.h>

#include <algorithm>
#include <ctime>

#include "core/error.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/py_str.h"
#include "tokenizer/unicode_text.h"

namespace khub::jinja {

bool call_method(const Value& obj, const std::string& name, CallArgs& a, Value* out) {
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    if (name == "startswith" || name == "endswith") {
      const Value* p = arg(a, 0, "prefix");
      if (!p) bad(name + "() takes at least 1 argument");
      List options = p->is_list() ? p->as_list() : List{*p};
      bool r = false;
      for (const auto& o : options) {
        const std::string& t = need_string(o, name.c_str());
        r = r || (name == "startswith"
                      ? s.compare(0, t.size(), t) == 0
                      : s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0);
      }
      *out = Value(r);
      return true;
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const Value* chars = arg(a, 0, "chars");
      *out = Value(strip_chars(s, chars && !chars->is_none() ? chars : nullptr, name != "rstrip",
                               name != "lstrip"));
      return true;
    }
    if (name == "split") {
      const Value* m = arg(a, 1, "maxsplit");
      *out = Value::list(py_split(s, arg(a, 0, "sep"), m ? m->as_int() : -1));
      return true;
    }
    if (name == "upper" || name == "lower") {
      *out = Value(map_case(s, name == "upper"));
      return true;
    }
    if (name == "title") {
      *out = Value(py_title(s));
      return true;
    }
    if (name == "capitalize") {
      *out = Value(capitalize(s));
      return true;
    }
    if (name == "replace") {
      const Value* from = arg(a, 0, "old");
      const Value* to = arg(a, 1, "new");
      const Value* count = arg(a, 2, "count");
      if (!from || !to) bad("replace() takes at least 2 arguments");
      *out = Value(replace_all(s, need_string(*from, "replace"), need_string(*to, "replace"),
                               count ? count->as_int() : -1));
      return true;
    }
    if (name == "find" || name == "count") {
      const Value* sub = arg(a, 0, "sub");
      if (!sub) bad(name + "() takes at least 1 argument");
      const std::string& t = need_string(*sub, name.c_str());
      if (name == "find") {
        size_t p = s.find(t);
        *out = Value(p == std::string::npos ? int64_t{-1}
                                            : static_cast<int64_t>(py_len(Value(s.substr(0, p)))));
      } else {
        int64_t n = 0;
        if (t.empty()) {
          n = static_cast<int64_t>(py_len(obj)) + 1;
        } else {
          for (size_t p = s.find(t); p != std::string::npos; p = s.find(t, p + t.size())) ++n;
        }
        *out = Value(n);
      }
      return true;
    }
    if (name == "join") {
      const Value* items = arg(a, 0, "iterable");
      if (!items) bad("join() takes exactly one argument");
      *out = Value(py_str_join(py_iterate(*items), s));
      return true;
    }
    if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
      bool r = !s.empty();
      for (size_t i = 0; i < s.size() && r;) {
        char32_t c;
        i += tok::utf8_decode(s, i, &c);
        auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        r = name == "isdigit"   ? digit
            : name == "isspace" ? py_space(c)
            : name == "isalpha" ? alpha
                                : alpha || digit;
      }
      *out = Value(r);
      return true;
    }
    if (name == "splitlines") {
      List lines;
      size_t start = 0;
      while (start < s.size()) {
        size_t nl = s.find('\n', start);
        if (nl == std::string::npos) nl = s.size();
        std::string line = s.substr(start, nl - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(Value(line));
        start = nl + 1;
      }
      *out = Value::list(std::move(lines));
      return true;
    }
    if (name == "format") bad("str.format() is not supported; use the format filter");
    return false;
  }
  if (obj.is_dict() && !obj.is_namespace()) {
    if (name == "items" || name == "keys" || name == "values") {
      List l;
      for (const auto& [k, v] : obj.as_dict()) {
        if (name == "items") l.push_back(Value::list({Value(k), v}, true));
        if (name == "keys") l.push_back(Value(k));
        if (name == "values") l.push_back(v);
      }
      *out = Value::list(std::move(l));
      return true;
    }
    if (name == "get") {
      const Value* k = arg(a, 0, "key");
      const Value* d = arg(a, 1, "default");
      if (!k) bad("get() takes at least 1 argument");
      const Value* v = k->is_string() ? obj.find(k->as_string()) : nullptr;
      *out = v ? *v : (d ? *d : Value::none());
      return true;
    }
    return false;
  }
  if (obj.is_list()) {
    if (name == "index" || name == "count") {
      const Value* x = arg(a, 0, "x");
      if (!x) bad(name + "() takes exactly one argument");
      int64_t n = 0, first = -1;
      for (size_t i = 0; i < obj.as_list().size(); ++i) {
        if (obj.as_list()[i].equals(*x)) {
          if (first < 0) first = static_cast<int64_t>(i);
          ++n;
        }
      }
      if (name == "index" && first < 0) bad(x->repr() + " is not in list");
      *out = Value(name == "index" ? first : n);
      return true;
    }
    return false;
  }
  return false;
}

bool is_global_function(const std::string& name) {
  return name == "range" || name == "namespace" || name == "raise_exception" ||
         name == "strftime_now" || name == "dict";
}

bool call_global(const std::string& name, CallArgs& a, Value* out) {
  if (name == "range") {
    if (a.positional.empty() || a.positional.size() > 3) bad("range() takes 1 to 3 arguments");
    for (const auto& v : a.positional)
      if (!v.is_int()) bad("range() arguments must be integers, got " + v.repr());
    int64_t start = 0, stop, step = 1;
    if (a.positional.size() == 1) {
      stop = a.positional[0].as_int();
    } else {
      start = a.positional[0].as_int();
      stop = a.positional[1].as_int();
      if (a.positional.size() == 3) step = a.positional[2].as_int();
    }
    if (step == 0) bad("range() step must not be zero");
    List l;
    for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
      if (l.size() >= 100000) bad("range() too large (more than 100000 items)");
      l.push_back(Value(i));
      if (__builtin_add_overflow(i, step, &i)) break;
    }
    *out = Value::list(std::move(l));
    return true;
  }
  if (name == "namespace" || name == "dict") {
    Dict d;
    for (const auto& v : a.positional) {
      if (!v.is_dict()) bad(name + "() positional arguments must be mappings");
      for (const auto& kv : v.as_dict()) d.push_back(kv);
    }
    for (auto& [k, v] : a.keyword) d.emplace_back(k, v);
    *out = Value::dict(std::move(d), name == "namespace");
    return true;
  }
  if (name == "raise_exception") {
    const Value* msg = arg(a, 0, "message");
    bad("raise_exception: " + (msg ? msg->str() : std::string()));
  }
  if (name == "strftime_now") {
    const Value* fmt = arg(a, 0, "format");
    if (!fmt || !fmt->is_string()) bad("strftime_now() needs a format string");
    std::time_t now = std::time(nullptr);
    std::tm tm_now{};
    localtime_r(&now, &tm_now);
    char buf[256];
    size_t n = std::strftime(buf, sizeof buf, fmt->as_string().c_str(), &tm_now);
    *out = Value(std::string(buf, n));
    return true;
  }
  return false;
}

}  // namespace khub::jinja
