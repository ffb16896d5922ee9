// Zero-copy conversion between khub tensors and DLPack (the tensor struct of the kernel ABI).
#pragma once

#include <dlpack/dlpack.h>

#include "core/tensor.h"

namespace khub {

// DLPack type codes newer than the 0.6 header Debian ships (values fixed by DLPack 1.1).
constexpr uint8_t kDLBoolCode = 6;
constexpr uint8_t kDLFloat8E4M3FnCode = 10;
constexpr uint8_t kDLFloat8E5M2Code = 12;

DLDataType dtype_to_dl(DType dtype);
// Throws Error(kUnsupported) naming code/bits/lanes when khub has no such dtype.
DType dtype_from_dl(DLDataType dl);
DLDevice device_to_dl(Device device);
Device device_from_dl(DLDevice dl);

// A non-owning DLTensor over t. Valid while t (and its shape/stride vectors) is alive and
// unchanged.
DLTensor to_dltensor(const Tensor& t);

// Exports t: the returned DLManagedTensor holds a reference to t's storage; the consumer calls
// its deleter when done.
DLManagedTensor* to_dlpack(const Tensor& t);
// Imports a producer's tensor without copying; the tensor calls the producer's deleter when the
// last view of it is gone. Takes ownership of managed (also on error).
Tensor from_dlpack(DLManagedTensor* managed);

}  // namespace khub
