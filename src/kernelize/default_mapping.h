// The mapping `use_kernels` registers: the khub-community collection, pinned to major versions
// (as transformers pins kernels-community majors).
#pragma once

#include "kernelize/kernel_mapping.h"

namespace khub {

const KernelMapping& default_kernel_mapping();

}  // namespace khub
