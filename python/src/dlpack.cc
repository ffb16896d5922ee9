// Python tensors into khub::Tensor through DLPack, without copying (docs/python.md).
#include <dlpack/dlpack.h>

#include "common.h"
#include "hub/kernel_locks.h"

namespace khub::python {

namespace {

// What a producer hands over, wrapped so that its deleter runs with the GIL held: numpy's deleter
// (1.24) drops a reference to the array without taking the GIL, and khub drops its views wherever
// the last one goes, including after a call released the GIL.
struct GilDeleter {
  DLManagedTensor wrapper;
  DLManagedTensor* producer;
};

void delete_with_gil(DLManagedTensor* self) {
  auto* g = static_cast<GilDeleter*>(self->manager_ctx);
  if (Py_IsInitialized()) {
    PyGILState_STATE state = PyGILState_Ensure();
    if (g->producer->deleter) g->producer->deleter(g->producer);
    PyGILState_Release(state);
  }
  delete g;
}

Tensor from_capsule(py::handle capsule, const std::string& what) {
  PyObject* c = capsule.ptr();
  if (!PyCapsule_IsValid(c, "dltensor")) {
    fail(ErrorKind::kInvalidArgument, what,
         ": the DLPack capsule was already consumed or is not a \"dltensor\" capsule");
  }
  auto* producer = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
  if (!producer) throw py::error_already_set();
  // The capsule's destructor must not free what the tensor now owns (DLPack's rule).
  if (PyCapsule_SetName(c, "used_dltensor") != 0) throw py::error_already_set();
  auto* g = new GilDeleter{};
  g->producer = producer;
  g->wrapper.dl_tensor = producer->dl_tensor;
  g->wrapper.manager_ctx = g;
  g->wrapper.deleter = delete_with_gil;
  try {
    return from_dlpack(&g->wrapper);
  } catch (const Error& e) {
    // from_dlpack called the deleter already (it takes ownership also on error).
    fail(e.kind(), what, ": ", e.what());
  }
}

}  // namespace

bool is_torch_tensor(py::handle obj) {
  PyObject* torch = PyImport_GetModule(py::str("torch").ptr());
  if (!torch) {
    PyErr_Clear();
    return false;
  }
  py::object mod = py::reinterpret_steal<py::object>(torch);
  return py::isinstance(obj, mod.attr("Tensor"));
}

void* torch_current_stream(int device_index) {
  py::object torch = py::module_::import("torch");
  py::object stream = torch.attr("cuda").attr("current_stream")(device_index);
  return reinterpret_cast<void*>(stream.attr("cuda_stream").cast<uintptr_t>());
}

Tensor tensor_from_python(py::handle obj, const std::string& what) {
  if (PyCapsule_CheckExact(obj.ptr())) return from_capsule(obj, what);
  if (is_torch_tensor(obj)) {
    // Shares the tensor's storage; the kernel runs on torch's current stream (kernel calls pass
    // it), so no stream handshake is needed.
    py::object capsule = py::module_::import("torch.utils.dlpack").attr("to_dlpack")(obj);
    return from_capsule(capsule, what);
  }
  if (py::hasattr(obj, "__dlpack__")) {
    py::object capsule;
    py::tuple device = obj.attr("__dlpack_device__")();
    if (device[0].cast<int>() == kDLCUDA) {
      // Stream 1: CUDA's legacy default stream, where khub runs a call given no stream.
      capsule = obj.attr("__dlpack__")(py::arg("stream") = 1);
    } else {
      capsule = obj.attr("__dlpack__")();
    }
    return from_capsule(capsule, what);
  }
  fail(ErrorKind::kInvalidArgument, what, ": expected a tensor (a numpy array, a torch tensor, ",
       "any object with __dlpack__, or a DLPack capsule), got ",
       std::string(py::str(py::type::of(obj).attr("__name__"))));
}

std::shared_ptr<const std::map<std::string, hub::LockedKernel>> locks_from_python(
    py::handle lockfile) {
  if (lockfile.is_none()) {
    std::filesystem::path found = hub::find_project_lock();
    if (found.empty()) return nullptr;
    py::module_::import("logging").attr("getLogger")("khub").attr("info")(
        "kernels: applying %s (lockfile=False to ignore it)", found.string());
    return hub::read_kernel_locks(found);
  }
  if (py::isinstance<py::bool_>(lockfile)) {
    KHUB_CHECK_ARG(!lockfile.cast<bool>(),
                   "lockfile: expected None (the project's kernels.lock), False (none) or a path, "
                   "got True");
    return nullptr;
  }
  std::string path = py::str(py::module_::import("os").attr("fspath")(lockfile));
  if (path == "none") return nullptr;
  return hub::read_kernel_locks(path);
}

}  // namespace khub::python
