// Element copy between two views of one dtype on one CUDA device (either may be non-contiguous):
// what contiguous() and copy_from use for device tensors.
#pragma once

#include "core/tensor.h"

namespace khub::cuda {

void strided_copy(const Tensor& dst, const Tensor& src);

}  // namespace khub::cuda
