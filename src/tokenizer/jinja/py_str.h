// What the Jinja builtins (builtins.cc) share: Python's str semantics as templates see them
// (split, strip, title, capitalize, %-formatting, ...) and access to a call's arguments. Internal
// to the Jinja engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/value.h"

namespace khub::jinja {

// Throws Error(kInvalidArgument) with `msg`: a template error.
[[noreturn]] void bad(const std::string& msg);
// float -> int as Python's int() does, within 64 bits.
int64_t float_to_int(double d);
// Code point start offsets of s, plus s.size() at the end.
std::vector<size_t> char_offsets(const std::string& s);
// Python's str.isspace() characters.
bool py_space(char32_t c);
// str.strip / lstrip / rstrip, of whitespace or of the characters of `chars`.
std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right);
// str.upper / str.lower.
std::string map_case(const std::string& s, bool upper);
bool is_cased_letter(char32_t c);
// Python str.title(): uppercase after an uncased character, lowercase after a cased one.
std::string py_title(const std::string& s);
// str.capitalize.
std::string capitalize(const std::string& s);
// Jinja's title filter: words split at runs of whitespace and -({[< ; first char upper, rest lower.
std::string jinja_title(const std::string& s);
// str.replace(from, to[, count]); count < 0: every occurrence.
std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                        int64_t count);
// str.split(sep, maxsplit); sep null: runs of whitespace.
List py_split(const std::string& s, const Value* sep, int64_t maxsplit);
// The i-th positional argument, or the keyword argument `name`; null when neither is given.
const Value* arg(CallArgs& a, size_t i, const char* name);
// v's string, or a template error naming `what`.
std::string need_string(const Value& v, const char* what);
// v[attr], dotted attributes ("function.name") looked up part by part, as the attribute filters do.
Value attribute_of(const Value& v, const std::string& attr);
// sep.join(items) of items' string forms.
std::string py_str_join(const List& items, const std::string& sep);
// Jinja's indent filter.
std::string indent_text(const std::string& s, const std::string& pad, bool first, bool blank);
// Python %-formatting with %s, %d, %i, %r and %% (what chat templates use).
std::string percent_format(const std::string& fmt, const List& args);

}  // namespace khub::jinja
