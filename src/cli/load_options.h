// The model-loading options every model command shares: --device, --dtype, --use-kernels,
// --kernel-config FILE.json ({"kernel_mapping": {...}} in the user's document's forms),
// --attn-implementation REF, --mode (inference|training[|compile]), --strict, and
// --kernels-lock FILE|none: the project's kernels.lock (default: the nearest kernels.lock above
// the working directory, when kernels are on). A locked repo's kernels load at the locked
// revision and variants, checked against the lock's metadata digest and signers
// (hub::LockedKernel; docs/design.md §6.5), and never from another revision.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cli/args.h"
#include "hub/get_kernel.h"
#include "models/causal_lm.h"

namespace khub::cli {

// The definitions of those options, for the commands that load a model (spec.h).
const std::vector<OptionSpec>& load_option_specs();

// The sampling options of generate and chat (--temperature, --top-p, --top-k, --min-p,
// --repetition-penalty, --seed, --greedy), with the command's own temperature and top-p defaults.
std::vector<OptionSpec> sampling_option_specs(const std::string& temperature,
                                              const std::string& top_p);

LoadOptions load_options_from_args(const Args& args);

}  // namespace khub::cli
