// khub grad --model DIR --prompt-ids "1,2,3;4,5,6" [--labels-ids IDS] [--json]: one forward and
// backward of the next-token cross-entropy on that batch (labels = the ids unless --labels-ids
// gives them, -100 ignored), printing the loss and the L2 norm of every parameter's gradient under
// the checkpoint's tensor names (a tied lm_head is the embedding's entry). Takes the model-loading
// options (--device, --dtype, --use-kernels, --kernel-config, --strict) and
// --checkpoint-activations. --save-grads FILE also writes every gradient (f32, on the CPU) to a
// safetensors file under the same names, for comparing whole gradients between paths
// (scripts/cuda/grad_diag.py).
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/load_options.h"
#include "cli/prompt_ids.h"
#include "cli/train_common.h"
#include "io/safetensors_writer.h"
#include "models/causal_lm.h"

namespace khub::cli {

int cmd_grad(const Args& args) {
  auto model = load_model_for_training(args);
  TrainBatch batch;
  batch.input_ids = parse_id_batches(args.get("prompt-ids"));
  if (args.has("labels-ids")) batch.labels = parse_id_batches(args.get("labels-ids"));
  Loss loss = model->loss(batch);
  loss.backward();
  nlohmann::json norms = nlohmann::json::object();
  for (const Parameter& p : model->parameters()) norms[p.name] = l2_norm(p.grad);
  if (args.has("save-grads")) {
    std::map<std::string, Tensor> grads;
    for (const Parameter& p : model->parameters()) {
      Tensor g = p.grad.to(Device::cpu());
      // In the checkpoint's layout, as the tensor it is the gradient of is stored.
      grads.emplace(p.name, (p.to_checkpoint ? p.to_checkpoint(g) : g).contiguous());
    }
    write_safetensors(args.get("save-grads"), grads, {{"loss", std::to_string(loss.item())}});
  }
  if (args.has("json")) {
    nlohmann::json out = {{"loss", loss.item()}, {"tokens", loss.tokens()}, {"grad_norms", norms}};
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("loss %.6f over %lld tokens\n", loss.item(), static_cast<long long>(loss.tokens()));
    for (const Parameter& p : model->parameters()) {
      std::printf("  %-56s %.6e\n", p.name.c_str(), norms[p.name].get<double>());
    }
  }
  return 0;
}

const CommandSpec& grad_spec() {
  static const CommandSpec s{
      .name = "grad",
      .summary = "one forward and backward on a batch: loss and per-parameter grad norms",
      .synopsis = "--model DIR --prompt-ids IDS [--labels-ids IDS] [--json] [options]",
      .options = join({opt("model", OptType::kPath, "DIR", "the model directory")
                           .default_doc("required")
                           .eg("models/q"),
                       opt("prompt-ids", OptType::kList, "IDS", "the batch; ';' separates rows")
                           .default_doc("required")
                           .eg("'1,2,3;4,5,6'"),
                       opt("labels-ids", OptType::kList, "IDS", "labels (-100 ignored)")
                           .default_doc("the prompt ids")
                           .eg("'2,3,-100;5,6,-100'"),
                       flag("checkpoint-activations", "recompute activations in the backward"),
                       opt("save-grads", OptType::kPath, "FILE",
                           "also write every gradient (f32) to a safetensors file")
                           .eg("grads.safetensors"),
                       flag("json", "print the loss and the norms as JSON")},
                      load_option_specs()),
      .run = cmd_grad};
  return s;
}

}  // namespace khub::cli
