#include "cli/load_options.h"

#include <filesystem>

#include "core/error.h"
#include "core/logging.h"
#include "hub/kernel_locks.h"

namespace khub::cli {
namespace fs = std::filesystem;

std::vector<OptionSpec> sampling_option_specs(const std::string& temperature,
                                              const std::string& top_p) {
  return {
      opt("temperature", OptType::kNumber, "T", "sampling temperature")
          .with_default(temperature)
          .eg("0.8"),
      opt("top-p", OptType::kNumber, "P", "nucleus sampling mass").with_default(top_p).eg("0.95"),
      opt("top-k", OptType::kInt, "K", "sample from the K likeliest tokens (0: all)")
          .with_default("0")
          .eg("40"),
      opt("min-p", OptType::kNumber, "P", "drop tokens below P times the top probability")
          .with_default("0.0")
          .eg("0.05"),
      opt("repetition-penalty", OptType::kNumber, "R", "penalty for tokens already seen")
          .with_default("1.0")
          .eg("1.1"),
      opt("seed", OptType::kInt, "S", "sampling seed").with_default("0").eg("42"),
      flag("greedy", "always pick the likeliest token"),
  };
}

LoadOptions load_options_from_args(const Args& args) {
  LoadOptions o;
  o.device = args.get("device");
  o.dtype = args.get_or("dtype", "");
  o.use_kernels = args.has("use-kernels");
  if (args.has("kernel-config"))
    o.kernel_config = KernelConfig::from_file(args.get("kernel-config"));
  o.attn_implementation = args.get_or("attn-implementation", "");
  if (args.has("mode")) o.mode = mode_parse(args.get("mode"));
  o.strict = args.has("strict");
  const bool kernels = o.use_kernels || o.kernel_config || !o.attn_implementation.empty();
  std::string lock = args.get_or("kernels-lock", "");
  if (lock == "none") {
    // --kernels-lock none: the project's lockfile is not applied
  } else if (!lock.empty()) {
    o.kernel_locks = hub::read_kernel_locks(lock);  // named: a missing file is an error
  } else if (kernels) {
    if (fs::path found = hub::find_project_lock(); !found.empty()) {
      log_info("kernels: applying ", found.string(), " (--kernels-lock none to ignore it)");
      o.kernel_locks = hub::read_kernel_locks(found);
    }
  }
  return o;
}

const std::vector<OptionSpec>& load_option_specs() {
  static const std::vector<OptionSpec> kLoad = {
      opt("device", OptType::kText, "DEV", "where the model runs: cpu, cuda or cuda:N")
          .with_default("cpu")
          .eg("cuda:0"),
      opt("dtype", OptType::kChoice, "DTYPE", "compute and weight dtype")
          .default_doc("the checkpoint's dtype")
          .one_of({"f32", "bf16", "f16"})
          .eg("bf16"),
      flag("use-kernels", "swap layers for hub kernels (the default mapping, docs/design.md §8.1)"),
      opt("kernel-config", OptType::kPath, "FILE.json",
          "per-layer kernel choices: {\"kernel_mapping\": {...}}")
          .eg("cfg.json"),
      opt("attn-implementation", OptType::kText, "REF", "the attention kernel, a kernel reference")
          .default_doc("the reference attention")
          .eg("'khub-community/flash-attn@>=1,<2'"),
      opt("mode", OptType::kText, "MODE", "kernelize mode: inference, training, compile (a,b)")
          .default_doc("inference (training for train and grad)")
          .eg("inference,compile"),
      flag("strict", "every fallback to the reference path is an error"),
      opt("kernels-lock", OptType::kPath, "FILE|none",
          "the kernels.lock whose revisions, variants and signers kernels load at")
          .default_doc("the nearest kernels.lock above the working directory, when kernels are on")
          .eg("kernels.lock"),
  };
  return kLoad;
}

}  // namespace khub::cli
