// The khub Python module (_khub, re-exported by python/khub/__init__.py; docs/python.md).
#include "common.h"

PYBIND11_MODULE(_khub, m) {
  namespace py = pybind11;
  using namespace khub::python;
  m.doc() = "khub: Hugging Face-format models with hub kernels, and the kernel hub itself";
  register_errors(m);
  register_kernels(m);
  register_models(m);
  m.def(
      "set_program_dir",
      [](py::object dir) {
        khub::set_program_dir(std::string(py::str(py::module_::import("os").attr("fspath")(dir))));
      },
      "The folder standing for khub's bin/: the bundled hub (DIR/../hub) and the install's trust "
      "policy (DIR/../share/khub/trust-policy.toml) are found beside it. Set before the first "
      "kernel load.");
  m.def("program_dir", [] { return khub::program_dir().string(); });
  m.def("hub_search_path", [] {
    std::vector<std::string> out;
    for (const auto& p : khub::hub::hub_search_path()) out.push_back(p.string());
    return out;
  });
  m.attr("__version__") = KHUB_PYTHON_VERSION;
}
