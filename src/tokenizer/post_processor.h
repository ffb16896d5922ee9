// Post-processors of tokenizer.json ("post_processor"): TemplateProcessing (single sequence),
// RobertaProcessing, BertProcessing, ByteLevel (ids unchanged) and Sequence. They only act when
// the caller asks for special tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace khub::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const Json& j, const std::string& path);

}  // namespace khub::tok
