#include "kernelize/env_switches.h"

#include "core/env.h"

namespace khub {

bool hub_kernels_enabled() { return env::flag("USE_HUB_KERNELS", true); }

bool kernel_mapping_disabled() { return env::flag("DISABLE_KERNEL_MAPPING", false); }

}  // namespace khub
