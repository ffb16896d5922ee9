// Regular expressions for tokenizer.json patterns, run with PCRE2 (JIT when available). HF
// `tokenizers` runs these patterns with Oniguruma; the few escapes whose Unicode meaning differs
// between the two engines (\s, \S, \w, \W, \d, \D) are rewritten to explicit classes that
// reproduce Oniguruma's meaning, so that a pattern behaves the same in both. A Regex is immutable
// and safe to share between threads; each call allocates its own match data.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khub::tok {

class Regex {
 public:
  // Throws khub::Error(kFormat) naming `what` and PCRE2's message with the pattern offset.
  Regex(std::string_view pattern, std::string_view what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // All non-overlapping matches as byte ranges [start, end), scanning left to right; an empty
  // match advances by one character. `text` must be valid UTF-8.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const;
  const std::string& pattern() const { return pattern_; }

  // The Oniguruma-to-PCRE2 rewrite (exposed for tests).
  static std::string translate(std::string_view oniguruma_pattern);

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace khub::tok
