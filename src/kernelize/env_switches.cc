#include "kernelize/env_switches.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"

namespace khub {

bool parse_env_switch(const std::string& name, const std::string& value) {
  std::string v = value;
  std::transform(v.begin(), v.end(), v.begin(), ::tolower);
  if (v == "1" || v == "on" || v == "yes" || v == "true") return true;
  if (v == "0" || v == "off" || v == "no" || v == "false") return false;
  fail(ErrorKind::kInvalidArgument, name, "='", value,
       "' is not one of 1, ON, YES, TRUE, 0, OFF, NO, FALSE (any case)");
}

bool hub_kernels_enabled() {
  const char* v = std::getenv("USE_HUB_KERNELS");
  return v == nullptr || *v == '\0' || parse_env_switch("USE_HUB_KERNELS", v);
}

bool kernel_mapping_disabled() {
  const char* v = std::getenv("DISABLE_KERNEL_MAPPING");
  return v != nullptr && *v != '\0' && parse_env_switch("DISABLE_KERNEL_MAPPING", v);
}

}  // namespace khub
