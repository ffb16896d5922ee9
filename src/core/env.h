// Environment variables: every variable khub reads — the KHUB_* switches, the kernel switches of
// the user's document (USE_HUB_KERNELS, DISABLE_KERNEL_MAPPING), huggingface_hub's HF_* variables
// and the standard ones (HOME, XDG_CACHE_HOME, PATH, CXX, NVCC) — is read through these getters,
// with one rule:
//
//   unset or ""                          the variable's default (the `fallback` argument)
//   booleans: 1, true, on, yes           true   (any case)
//             0, false, off, no          false  (any case)
//   integers: decimal digits with an optional sign, inside the getter's [min, max]
//   numbers:  a decimal floating-point value, at least the getter's min
//   anything else                        Error(kInvalidArgument) naming the variable, its value
//                                        and what was expected
//
// The HF_* booleans follow it too: huggingface_hub takes 1, ON, YES, TRUE (any case) as true and
// every other value as false, so 0, false, off, no and "" mean false in both; a value neither list
// holds ("maybe") is an error here where huggingface_hub would read false.
// Values are read when asked (callers that ask at every launch cache the answer themselves).
// docs/environment.md lists every variable, its default, what it does and whether it is for users
// or for measurement. Kernels, which cannot link this library, share the same rule through
// kernels/common/khub_env.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace khub::env {

// The value of `name`, or nullopt when it is unset or empty.
std::optional<std::string> get(const char* name);

// The value of `name`, "" included: nullopt only when it is unset. For the few variables whose
// empty value means something (KHUB_HUB_PATH="": no local hubs; KHUB_RECEIPTS_DIR="": no receipts).
std::optional<std::string> raw(const char* name);

// The value of `name`, or `fallback` when it is unset or empty.
std::string string(const char* name, const std::string& fallback = "");

// A boolean switch by the rule above.
bool flag(const char* name, bool fallback);

// An integer in [min, max].
int64_t integer(const char* name, int64_t fallback, int64_t min, int64_t max);

// A floating-point number >= min.
double number(const char* name, double fallback, double min);

// The boolean rule alone, for a value that did not come from the environment; throws
// Error(kInvalidArgument) naming `name` for a value outside it.
bool parse_flag(const std::string& name, const std::string& value);

// The user's cache folder (the XDG base directory rule): $XDG_CACHE_HOME, else $HOME/.cache;
// empty when neither is set.
std::filesystem::path user_cache_dir();

// huggingface_hub's home folder: $HF_HOME, else user_cache_dir()/huggingface; empty when none of
// HF_HOME, XDG_CACHE_HOME and HOME is set. The token file and the hub cache default to folders
// inside it (hub/http/hub_config.h), the user's trust policy too (loader/trust_policy.h).
std::filesystem::path hf_home();

}  // namespace khub::env
