#include "tokenizer/jinja/py_str.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tokenizer/unicode_text.h"

namespace khub::jinja {

[[noreturn]] void bad(const std::string& msg) { fail(ErrorKind::kInvalidArgument, msg); }

// float -> int as Python's int() does, within 64 bits.
int64_t float_to_int(double d) {
  if (!(d > -9.2e18 && d < 9.2e18))
    bad("cannot convert float " + python_float_repr(d) + " to an integer");
  return static_cast<int64_t>(d);
}

// Code point start offsets of s, plus s.size() at the end.
std::vector<size_t> char_offsets(const std::string& s) {
  std::vector<size_t> off;
  off.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); i += tok::utf8_len(static_cast<unsigned char>(s[i])))
    off.push_back(i);
  off.push_back(s.size());
  return off;
}

// Python's str.isspace() characters.
bool py_space(char32_t c) { return tok::is_whitespace(c) || (c >= 0x1C && c <= 0x1F); }

std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right) {
  std::vector<char32_t> set;
  if (chars && chars->is_string()) {
    const std::string& cs = chars->as_string();
    for (size_t i = 0; i < cs.size();) {
      char32_t c;
      i += tok::utf8_decode(cs, i, &c);
      set.push_back(c);
    }
  }
  auto strip = [&](char32_t c) {
    return chars && chars->is_string() ? std::find(set.begin(), set.end(), c) != set.end()
                                       : py_space(c);
  };
  auto off = char_offsets(s);
  size_t b = 0, e = off.size() - 1;
  auto at = [&](size_t k) {
    char32_t c;
    tok::utf8_decode(s, off[k], &c);
    return c;
  };
  if (left)
    while (b < e && strip(at(b))) ++b;
  if (right)
    while (e > b && strip(at(e - 1))) --e;
  return s.substr(off[b], off[e] - off[b]);
}

std::string map_case(const std::string& s, bool upper) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    i += tok::utf8_decode(s, i, &c);
    auto m = upper ? utf8proc_toupper(static_cast<utf8proc_int32_t>(c))
                   : utf8proc_tolower(static_cast<utf8proc_int32_t>(c));
    tok::utf8_append(out, static_cast<char32_t>(m));
  }
  return out;
}

bool is_cased_letter(char32_t c) {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

// Python str.title(): uppercase after an uncased character, lowercase after a cased one.
std::string py_title(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    i += tok::utf8_decode(s, i, &c);
    std::string one;
    tok::utf8_append(one, c);
    out += prev_cased ? map_case(one, false) : map_case(one, true);
    prev_cased = is_cased_letter(c);
  }
  return out;
}

std::string capitalize(const std::string& s) {
  if (s.empty()) return s;
  int n = tok::utf8_len(static_cast<unsigned char>(s[0]));
  return map_case(s.substr(0, n), true) + map_case(s.substr(n), false);
}

// Jinja's title filter: words split at runs of whitespace and -({[< ; first char upper, rest lower.
std::string jinja_title(const std::string& s) {
  std::string out;
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    int n = tok::utf8_decode(s, i, &c);
    std::string one = s.substr(i, n);
    i += n;
    bool sep = py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (sep) {
      out += one;
      word_start = true;
    } else {
      out += map_case(one, word_start);
      word_start = false;
    }
  }
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                        int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` between every character (and at both ends).
    auto off = char_offsets(s);
    int64_t done = 0;
    for (size_t k = 0; k + 1 < off.size(); ++k) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      out += s.substr(off[k], off[k + 1] - off[k]);
    }
    if (count < 0 || done < count) out += to;
    return out;
  }
  size_t prev = 0, pos;
  int64_t done = 0;
  while ((count < 0 || done < count) && (pos = s.find(from, prev)) != std::string::npos) {
    out.append(s, prev, pos - prev);
    out += to;
    prev = pos + from.size();
    ++done;
  }
  out.append(s, prev);
  return out;
}

List py_split(const std::string& s, const Value* sep, int64_t maxsplit) {
  List out;
  if (sep == nullptr || sep->is_none()) {
    auto off = char_offsets(s);
    size_t k = 0, n = off.size() - 1;
    auto space_at = [&](size_t i) {
      char32_t c;
      tok::utf8_decode(s, off[i], &c);
      return py_space(c);
    };
    while (k < n) {
      while (k < n && space_at(k)) ++k;
      if (k >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        size_t e = n;
        while (e > k && space_at(e - 1)) --e;
        out.push_back(Value(s.substr(off[k], off[e] - off[k])));
        break;
      }
      size_t b = k;
      while (k < n && !space_at(k)) ++k;
      out.push_back(Value(s.substr(off[b], off[k] - off[b])));
    }
    return out;
  }
  if (!sep->is_string()) bad("split() separator must be a string");
  const std::string& d = sep->as_string();
  if (d.empty()) bad("split(): empty separator");
  size_t prev = 0, pos;
  while ((maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) &&
         (pos = s.find(d, prev)) != std::string::npos) {
    out.push_back(Value(s.substr(prev, pos - prev)));
    prev = pos + d.size();
  }
  out.push_back(Value(s.substr(prev)));
  return out;
}

const Value* arg(CallArgs& a, size_t i, const char* name) {
  if (i < a.positional.size()) return &a.positional[i];
  for (auto& [k, v] : a.keyword)
    if (k == name) return &v;
  return nullptr;
}

std::string need_string(const Value& v, const char* what) {
  if (!v.is_string()) bad(std::string(what) + ": expected a string, got " + v.repr());
  return v.as_string();
}

Value attribute_of(const Value& v, const std::string& attr) {
  Value cur = v;
  size_t start = 0;
  for (;;) {  // dotted attributes: "function.name"
    size_t dot = attr.find('.', start);
    std::string part =
        attr.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    cur = py_getitem(cur, Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

std::string py_str_join(const List& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i].str();
  }
  return out;
}

std::string indent_text(const std::string& s, const std::string& pad, bool first, bool blank) {
  std::string out;
  size_t start = 0;
  bool is_first = true;
  for (;;) {
    size_t nl = s.find('\n', start);
    std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    bool add = (!is_first || first) && (blank || !line.empty());
    if (add) out += pad;
    out += line;
    if (nl == std::string::npos) break;
    out += "\n";
    start = nl + 1;
    is_first = false;
  }
  return out;
}

// Python %-formatting with %s, %d, %i, %r and %% (what chat templates use).
std::string percent_format(const std::string& fmt, const List& args) {
  std::string out;
  size_t k = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) bad("format: incomplete format");
    char c = fmt[i];
    if (c == '%') {
      out.push_back('%');
      continue;
    }
    if (k >= args.size()) bad("format: not enough arguments for format string");
    const Value& v = args[k++];
    if (c == 's') {
      out += v.str();
    } else if (c == 'r') {
      out += v.repr();
    } else if (c == 'd' || c == 'i') {
      if (!v.is_number() && !v.is_bool()) bad("format: %d needs a number, got " + v.repr());
      out += std::to_string(v.is_float() ? float_to_int(v.as_double()) : v.as_int());
    } else {
      bad(std::string("format: unsupported conversion %") + c);
    }
  }
  if (k != args.size()) bad("format: not all arguments converted");
  return out;
}

}  // namespace khub::jinja
