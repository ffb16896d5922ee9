#include "core/error.h"
#include "models/arch.h"

namespace khub {

const std::vector<const ArchSpec*>& all_archs() {
  static const std::vector<const ArchSpec*> archs = {
      &llama_arch(),  &mistral_arch(),   &qwen2_arch(),   &qwen3_arch(),
      &gemma3_arch(), &qwen3_moe_arch(), &mixtral_arch(), &gpt_oss_arch()};
  return archs;
}

MoeWeightNames moe_weight_names(const ModelConfig& c) {
  if (c.model_type == "mixtral") return {"block_sparse_moe", "w1", "w3", "w2"};
  return {"mlp", "gate_proj", "up_proj", "down_proj"};
}

std::string supported_archs_list() {
  std::string s;
  for (const ArchSpec* a : all_archs()) {
    if (!s.empty()) s += ", ";
    s += a->architecture + " (" + a->model_type + ")";
  }
  return s;
}

const ArchSpec& find_arch(const std::string& name) {
  for (const ArchSpec* a : all_archs()) {
    if (a->architecture == name || a->model_type == name) return *a;
  }
  // Short names for the CLI: "gemma3" for gemma3_text.
  for (const ArchSpec* a : all_archs()) {
    if (a->model_type.rfind(name + "_", 0) == 0) return *a;
  }
  fail(ErrorKind::kUnsupported, "architecture '", name,
       "' is not supported; supported: ", supported_archs_list());
}

}  // namespace khub
