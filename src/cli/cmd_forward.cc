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

int cmd_forward(int argc, char** argv) {
  Args args(argc, argv, {"use-kernels", "strict"});
  args.reject_unknown({"model", "prompt-ids", "out", "device", "dtype", "use-kernels",
                       "kernel-config", "kernels-lock", "attn-implementation", "mode", "strict"});
  auto model = CausalLM::from_pretrained(args.get("model"), load_options_from_args(args));
  std::vector<int32_t> ids = parse_id_list(args.get("prompt-ids"));
  KVCache cache = model->make_cache(1, static_cast<int64_t>(ids.size()));
  Tensor logits = model->forward({{0, ids}}, cache, /*all_logits=*/true).to(Device::cpu());
  write_safetensors(args.get("out"), {{"logits", logits}});
  std::printf("wrote %s: logits %s\n", args.get("out").c_str(), shape_str(logits.shape()).c_str());
  return 0;
}

}  // namespace khub::cli
