#include "cli/load_options.h"

namespace khub::cli {

LoadOptions load_options_from_args(const Args& args) {
  LoadOptions o;
  o.device = args.get_or("device", "cpu");
  o.use_kernels = args.has("use-kernels");
  if (args.has("kernel-config"))
    o.kernel_config = KernelConfig::from_file(args.get("kernel-config"));
  o.attn_implementation = args.get_or("attn-implementation", "");
  if (args.has("mode")) o.mode = mode_parse(args.get("mode"));
  o.strict = args.has("strict");
  return o;
}

}  // namespace khub::cli
