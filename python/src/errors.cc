#include <array>

#include "common.h"

namespace khub::python {

namespace {

constexpr std::array<ErrorKind, 9> kKinds = {
    ErrorKind::kInvalidArgument, ErrorKind::kNotFound, ErrorKind::kFormat,       ErrorKind::kIo,
    ErrorKind::kUnsupported,     ErrorKind::kNetwork,  ErrorKind::kVerification, ErrorKind::kKernel,
    ErrorKind::kInternal};

// The Python class name of each kind, and the built-in exception it also derives from (so that
// `except ValueError` still catches a bad argument, `except FileNotFoundError` a missing file).
struct KindClass {
  const char* name;
  const char* builtin;  // nullptr: KhubError only
};
KindClass kind_class(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return {"InvalidArgumentError", "ValueError"};
    case ErrorKind::kNotFound:
      return {"NotFoundError", "LookupError"};
    case ErrorKind::kFormat:
      return {"FormatError", "ValueError"};
    case ErrorKind::kIo:
      return {"IoError", "OSError"};
    case ErrorKind::kUnsupported:
      return {"UnsupportedError", "NotImplementedError"};
    case ErrorKind::kNetwork:
      return {"NetworkError", "ConnectionError"};
    case ErrorKind::kVerification:
      return {"VerificationError", nullptr};
    case ErrorKind::kKernel:
      return {"KernelError", "RuntimeError"};
    case ErrorKind::kInternal:
      return {"InternalError", "RuntimeError"};
  }
  return {"KhubError", nullptr};
}

// Owned for the life of the process (the module is never unloaded): one reference per class.
std::array<PyObject*, kKinds.size()>& classes() {
  static std::array<PyObject*, kKinds.size()> c{};
  return c;
}

}  // namespace

void register_errors(py::module_& m) {
  py::object builtins = py::module_::import("builtins");
  py::object type = builtins.attr("type");
  py::dict base_ns;
  base_ns["__doc__"] =
      "A khub error. str(e) is the C++ message (the text the khub CLI prints after "
      "'khub COMMAND: KIND: '); e.kind is KIND ('not found', 'verification failed', ...).";
  base_ns["__module__"] = "khub";
  base_ns["kind"] = py::none();
  py::object base = type("KhubError", py::make_tuple(builtins.attr("Exception")), base_ns);
  m.attr("KhubError") = base;
  for (size_t i = 0; i < kKinds.size(); ++i) {
    KindClass k = kind_class(kKinds[i]);
    py::dict ns;
    ns["__module__"] = "khub";
    ns["kind"] = py::str(std::string(error_kind_name(kKinds[i])));
    ns["__doc__"] = py::str("khub errors of kind " + std::string(error_kind_name(kKinds[i])));
    py::tuple bases =
        k.builtin ? py::make_tuple(base, builtins.attr(k.builtin)) : py::make_tuple(base);
    py::object cls = type(k.name, bases, ns);
    m.attr(k.name) = cls;
    classes()[i] = cls.release().ptr();
  }
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      for (size_t i = 0; i < kKinds.size(); ++i) {
        if (kKinds[i] == e.kind()) {
          PyErr_SetString(classes()[i], e.what());
          return;
        }
      }
      PyErr_SetString(classes()[kKinds.size() - 1], e.what());
    }
  });
}

py::object json_to_python(const nlohmann::json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

nlohmann::json python_to_json(py::handle obj) {
  std::string text = py::str(py::module_::import("json").attr("dumps")(obj));
  return nlohmann::json::parse(text);
}

}  // namespace khub::python
