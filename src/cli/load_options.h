// The model-loading options every model command shares: --device, --use-kernels,
// --kernel-config FILE.json ({"kernel_mapping": {...}} in the user's document's forms),
// --attn-implementation REF, --mode (inference|training[|compile]), --strict.
#pragma once

#include "cli/args.h"
#include "models/causal_lm.h"

namespace khub::cli {

LoadOptions load_options_from_args(const Args& args);

}  // namespace khub::cli
