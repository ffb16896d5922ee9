// Untrusted text quoted in error messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace khub {

// Printable ASCII as it is, every other byte as \xNN, at most `max` bytes of `text` and then
// "...". So an error never carries control characters to a terminal nor invalid UTF-8 into the
// JSON output that reports it (found by fuzz/trust_inputs_fuzzer.cc: `khub verify --json` on a
// signature file with binary bytes).
std::string printable_excerpt(std::string_view text, size_t max = 80);

}  // namespace khub
