// Tensors, devices, dtypes and errors (khub public API, docs/cpp-api.md):
//   khub::Tensor        an owning or viewing n-d array on a Device; from_vector, full, to(device),
//                       data_as<T>(), to and from DLPack without copying
//   khub::Device        cpu, cuda:N (Device::parse("cuda:0"))
//   khub::DType         kF32, kBF16, kF16, kI32, kI64, ...
//   khub::Error         the one exception type; kind() tells a caller's mistake (kInvalidArgument)
//                       from a missing file, a failed verification or a kernel error
#pragma once

#include "core/device.h"
#include "core/dlpack.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"
