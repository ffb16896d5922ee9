// TOML text made safe for toml++ (build.toml, trust policies, kernels.toml).
// toml++ 3.3 (Debian 12's) reaches __builtin_unreachable() when its whitespace test meets some
// non-ASCII code points (found by fuzz/kernel_inputs_fuzzer.cc), and malformed input decides
// where it looks. So toml++ only ever sees ASCII: non-ASCII text in basic strings becomes \uXXXX
// escapes, in comments it becomes '?', and anywhere else it is an error (TOML allows it only in
// strings and comments). Literal strings cannot hold escapes, so non-ASCII there is an error too.
#pragma once

#include <string>
#include <string_view>

namespace khub {

// The ASCII form of `text` described above; throws Error(kFormat) "<where>:<line>: <why>" for
// invalid UTF-8 and for non-ASCII outside basic strings and comments.
std::string toml_ascii(std::string_view text, const std::string& where);

}  // namespace khub
