// The global switches of the user's document and of HF kernels, read at each kernelize:
//   USE_HUB_KERNELS=0|OFF|NO|FALSE (any case) disables hub kernels for layer keys; 1|ON|YES|TRUE
//     or unset enables them. Any other value is an error naming it.
//   DISABLE_KERNEL_MAPPING=1 makes every layer use its reference forward.
// Both follow core/env.h's rule for switches. (LOCAL_KERNELS, KHUB_HUB_PATH and HF_HUB_OFFLINE are
// read by hub/.)
#pragma once

namespace khub {

bool hub_kernels_enabled();      // USE_HUB_KERNELS
bool kernel_mapping_disabled();  // DISABLE_KERNEL_MAPPING

}  // namespace khub
