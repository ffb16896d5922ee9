#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode_text.h"

namespace khub::tok {

namespace {

// Oniguruma's Unicode classes (White_Space; Letter|Mark|Decimal_Number|Connector_Punctuation).
constexpr const char* kSpaceItems = "\\t-\\r\\x{85}\\p{Z}";
constexpr const char* kWordItems = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
constexpr const char* kDigitItems = "\\p{Nd}";

const char* class_items(char esc) {
  switch (esc) {
    case 's':
      return kSpaceItems;
    case 'w':
      return kWordItems;
    case 'd':
      return kDigitItems;
    default:
      return nullptr;
  }
}

}  // namespace

std::string Regex::translate(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[i + 1];
      char lower = static_cast<char>(e | 0x20);
      const char* items = (e == 's' || e == 'S' || e == 'w' || e == 'W' || e == 'd' || e == 'D')
                              ? class_items(lower)
                              : nullptr;
      bool negated = e >= 'A' && e <= 'Z';
      if (items != nullptr && !in_class) {
        out += negated ? "[^" : "[";
        out += items;
        out += "]";
      } else if (items != nullptr && !negated) {
        out += items;  // inside a class the items join the enclosing set (negated or not)
      } else {
        out.push_back(c);
        out.push_back(e);
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
      if (i + 1 < p.size() && p[i + 1] == ']') out.push_back(p[++i]);
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
  }
  return out;
}

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
};

Regex::Regex(std::string_view pattern, std::string_view what)
    : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  std::string translated = translate(pattern);
  int err = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (impl_->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(ErrorKind::kFormat, what, ": cannot compile regex '", std::string(pattern),
         "': ", reinterpret_cast<const char*>(msg), " at offset ", offset);
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  if (impl_ && impl_->code) pcre2_code_free(impl_->code);
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>* out) const {
  out->clear();
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  KHUB_ICHECK(md != nullptr, "pcre2_match_data_create_from_pattern");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, text.size(), pos, 0, md, nullptr)
                        : pcre2_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                                      md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail(ErrorKind::kInvalidArgument, "regex '", pattern_,
           "' failed: ", reinterpret_cast<const char*>(msg));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t s = ov[0], e = ov[1];
    if (e == s) {
      // Empty match: record it (it still splits the text, as in Oniguruma's iterator) and step
      // over one character.
      out->emplace_back(s, e);
      if (s >= text.size()) break;
      pos = s + utf8_len(static_cast<unsigned char>(text[s]));
      continue;
    }
    out->emplace_back(s, e);
    pos = e;
  }
  pcre2_match_data_free(md);
}

}  // namespace khub::tok
