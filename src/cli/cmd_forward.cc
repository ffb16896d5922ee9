// khub forward --model DIR --prompt-ids IDS --out FILE: one forward pass over the prompt; writes
// a safetensors file with one f32 tensor `logits` of shape [tokens, vocab]. Takes the model-loading
// options of generate (--device, --dtype, --use-kernels, --kernel-config, --attn-implementation,
// --mode).
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/load_options.h"
#include "cli/prompt_ids.h"
#include "io/safetensors_writer.h"
#include "models/causal_lm.h"

namespace khub::cli {

int cmd_forward(const Args& args) {
  auto model = CausalLM::from_pretrained(args.get("model"), load_options_from_args(args));
  std::vector<int32_t> ids = parse_id_list(args.get("prompt-ids"));
  KVCache cache = model->make_cache(1, static_cast<int64_t>(ids.size()));
  Tensor logits = model->forward({{0, ids}}, cache, /*all_logits=*/true).to(Device::cpu());
  write_safetensors(args.get("out"), {{"logits", logits}});
  std::printf("wrote %s: logits %s\n", args.get("out").c_str(), shape_str(logits.shape()).c_str());
  return 0;
}

const CommandSpec& forward_spec() {
  static const CommandSpec s{
      .name = "forward",
      .summary = "run one forward pass; write logits to a safetensors file",
      .synopsis = "--model DIR --prompt-ids IDS --out FILE [options]",
      .options = join({opt("model", OptType::kPath, "DIR", "the model directory")
                           .default_doc("required")
                           .eg("models/q"),
                       opt("prompt-ids", OptType::kList, "IDS", "the prompt's token ids")
                           .default_doc("required")
                           .eg("1,2,3"),
                       opt("out", OptType::kPath, "FILE", "the safetensors file to write (logits)")
                           .default_doc("required")
                           .eg("logits.safetensors")},
                      load_option_specs()),
      .run = cmd_forward};
  return s;
}

}  // namespace khub::cli
