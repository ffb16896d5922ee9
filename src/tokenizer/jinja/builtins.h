// Filters, tests, global functions and Python methods (str, dict, list) of khub's Jinja engine.
// Each throws khub::Error(kInvalidArgument) with a message; the renderer adds the position.
#pragma once

#include <functional>
#include <string>

#include "tokenizer/jinja/value.h"

namespace khub::jinja {

// Applies one filter or test by name, for filters like map('upper') and select('odd').
struct Builtins {
  std::function<Value(const std::string& name, Value input, CallArgs& args)> filter;
  std::function<bool(const std::string& name, const Value& input, CallArgs& args)> test;
};

bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(const std::string& name, Value input, CallArgs& args, const Builtins& self);
bool apply_test(const std::string& name, const Value& input, CallArgs& args);
// Calls a method of a str, dict or list; returns false when `obj` has no such method.
bool call_method(const Value& obj, const std::string& name, CallArgs& args, Value* out);
// Global functions: range, namespace, raise_exception, strftime_now, dict, list? (nullptr: none)
bool call_global(const std::string& name, CallArgs& args, Value* out);
bool is_global_function(const std::string& name);

// Python-like helpers shared with the renderer.
size_t py_len(const Value& v);
Value py_getitem(const Value& obj, const Value& key);  // undefined when missing
Value py_slice(const Value& obj, const Value* start, const Value* stop, const Value* step);
List py_iterate(const Value& v);  // list items, dict keys, str characters
bool py_contains(const Value& container, const Value& item);

}  // namespace khub::jinja
