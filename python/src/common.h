// Shared by the khub Python module's sources (python/src/): the exception hierarchy C++ errors map
// to, JSON <-> Python through the json module, and the conversion of Python tensors (anything with
// __dlpack__, torch tensors, DLPack capsules) into khub::Tensor views without copying.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "khub/khub.h"

namespace khub::python {
namespace py = pybind11;

// Creates khub.KhubError and one subclass per khub::ErrorKind on `m`, and the translator that
// raises them for khub::Error with e.what() as the message (docs/python.md).
void register_errors(py::module_& m);

py::object json_to_python(const nlohmann::json& j);
nlohmann::json python_to_json(py::handle obj);

// The tensor behind `obj`, viewing the producer's memory: a PyCapsule "dltensor", a torch tensor
// (torch.utils.dlpack.to_dlpack), or any object with __dlpack__ (numpy arrays, CuPy, JAX). The
// producer's deleter runs with the GIL held whenever the last view goes. `what` names the argument
// in errors. Throws khub::Error(kInvalidArgument) for anything else.
Tensor tensor_from_python(py::handle obj, const std::string& what);
// Whether obj is a torch.Tensor (without importing torch).
bool is_torch_tensor(py::handle obj);
// The raw cudaStream_t of torch's current stream on a CUDA device (torch must be imported).
void* torch_current_stream(int device_index);

// The kernels.lock a load applies: `lockfile` None = the nearest kernels.lock above the working
// directory (as the CLI's --kernels-lock default), False or "none" = none, else a path (a missing
// file is an error).
std::shared_ptr<const std::map<std::string, hub::LockedKernel>> locks_from_python(
    py::handle lockfile);

void register_kernels(py::module_& m);
void register_models(py::module_& m);

}  // namespace khub::python
