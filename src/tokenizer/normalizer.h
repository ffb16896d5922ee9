// Normalizers of tokenizer.json ("normalizer"): NFC, NFD, NFKC, NFKD, Lowercase, StripAccents,
// Replace, Prepend, Strip and Sequence. They rewrite one piece of text between added tokens.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/json_fields.h"

namespace khub::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Builds the normalizer described by `j` (null gives nullptr); `path` names it in errors.
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const std::string& path);

}  // namespace khub::tok
