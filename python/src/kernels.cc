// khub.get_kernel and the module-like kernel object it returns (docs/python.md): hub::get_kernel
// with the same reference syntax and options as the C++ API and the CLI, and each manifest function
// as a callable that takes tensors through DLPack and writes the caller's outputs in place.
#include <sstream>

#include "common.h"

namespace khub::python {

namespace {

std::string value_text(const khub_value& v, const std::string& s) {
  switch (v.kind) {
    case KHUB_VALUE_INT:
      return std::to_string(v.v.i);
    case KHUB_VALUE_FLOAT: {
      std::ostringstream os;
      os << v.v.f;
      return os.str();
    }
    case KHUB_VALUE_BOOL:
      return v.v.i ? "True" : "False";
    case KHUB_VALUE_STRING:
      return "'" + s + "'";
  }
  return "None";
}

// "rms_norm_forward(x: input f32,bf16,f16, weight: param same:x 1-d, out: output same:x, *,
// eps: float = 1e-06)"
std::string signature_text(const loader::FunctionInfo& fn) {
  std::string s = fn.name + "(";
  for (size_t i = 0; i < fn.args.size(); ++i) {
    const loader::ArgInfo& a = fn.args[i];
    s += (i ? ", " : "") + a.name + ": " + loader::arg_role_name(a.role) + " " + a.dtypes_text;
    if (a.ndim >= 0) s += " " + std::to_string(a.ndim) + "-d";
    if (a.optional()) s += " optional";
  }
  if (!fn.attrs.empty()) s += fn.args.empty() ? "*" : ", *";
  for (const loader::AttrInfo& a : fn.attrs) {
    s += ", " + a.name + ": " + loader::value_kind_name(a.kind);
    if (!a.required) s += " = " + value_text(a.default_value, a.default_string);
  }
  return s + ")";
}

loader::AttrValue attr_from_python(py::handle v, const std::string& where) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>();
  if (py::isinstance<py::int_>(v)) return v.cast<int64_t>();
  if (py::isinstance<py::float_>(v)) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  // numpy scalars and 0-d tensors: by their Python value
  if (py::hasattr(v, "item")) return attr_from_python(v.attr("item")(), where);
  fail(ErrorKind::kInvalidArgument, where, ": expected an int, float, bool or str, got ",
       std::string(py::str(py::type::of(v).attr("__name__"))));
}

// One manifest function, callable from Python.
class PyKernelFunction {
 public:
  explicit PyKernelFunction(loader::KernelFunction fn) : fn_(std::move(fn)) {}

  // fn(*tensors, stream=None, num_threads=0, **tensors_and_attrs): positional arguments are the
  // tensor arguments in signature order; keywords name tensor arguments or attributes. Returns
  // the output arguments the caller passed (written in place): one object, a tuple, or None.
  py::object call(py::args args, py::kwargs kwargs) const {
    const loader::FunctionInfo& info = fn_.info();
    const std::string where = fn_.kernel().identity().label() + " function '" + info.name + "'";
    loader::KernelArgs call_args;
    std::vector<std::pair<std::string, py::object>> objects;  // tensor name -> the caller's object
    KHUB_CHECK_ARG(args.size() <= info.args.size(), where, ": takes ", info.args.size(),
                   " tensor arguments, got ", args.size(), " positional ones");
    for (size_t i = 0; i < args.size(); ++i) objects.emplace_back(info.args[i].name, args[i]);
    loader::ExecOptions exec;
    py::object stream = py::none();
    for (auto [key, value] : kwargs) {
      std::string name = py::str(key);
      if (name == "stream") {
        stream = py::reinterpret_borrow<py::object>(value);
        continue;
      }
      if (name == "num_threads") {
        exec.num_threads = value.cast<int>();
        continue;
      }
      bool is_tensor = std::any_of(info.args.begin(), info.args.end(),
                                   [&](const loader::ArgInfo& a) { return a.name == name; });
      if (is_tensor) {
        for (const auto& o : objects) {
          KHUB_CHECK_ARG(o.first != name, where, ": argument '", name,
                         "' given both by position and by keyword");
        }
        objects.emplace_back(name, py::reinterpret_borrow<py::object>(value));
      } else {
        // Unknown names are left to the C++ check, which lists the attributes.
        call_args.attrs.emplace_back(name,
                                     attr_from_python(value, where + ": attribute '" + name + "'"));
      }
    }
    bool torch_cuda = false;
    int cuda_index = 0;
    for (const auto& [name, obj] : objects) {
      if (obj.is_none()) continue;  // an absent optional argument
      Tensor t = tensor_from_python(obj, where + ": argument '" + name + "'");
      if (t.device().is_cuda() && is_torch_tensor(obj)) {
        torch_cuda = true;
        cuda_index = t.device().index;
      }
      call_args.tensors.emplace_back(name, std::move(t));
    }
    if (!stream.is_none()) {
      exec.stream = reinterpret_cast<void*>(stream.cast<uintptr_t>());
    } else if (torch_cuda) {
      exec.stream = torch_current_stream(cuda_index);  // as torch's own ops would run
    }
    {
      py::gil_scoped_release release;
      fn_(call_args, exec);
      call_args.tensors.clear();  // drop the views (their deleters take the GIL themselves)
    }
    std::vector<py::object> outs;
    for (const loader::ArgInfo& a : info.args) {
      if (a.role != KHUB_ARG_OUTPUT) continue;
      for (const auto& [name, obj] : objects) {
        if (name == a.name) outs.push_back(obj);
      }
    }
    if (outs.empty()) return py::none();
    if (outs.size() == 1) return outs[0];
    py::tuple t(outs.size());
    for (size_t i = 0; i < outs.size(); ++i) t[i] = outs[i];
    return t;
  }

  const loader::KernelFunction& fn() const { return fn_; }

 private:
  loader::KernelFunction fn_;
};

// A loaded kernel as Python holds it (pybind11 holders cannot be shared_ptr<const T>).
struct KernelPtr {
  std::shared_ptr<const loader::Kernel> kernel;
  const loader::Kernel* operator->() const { return kernel.get(); }
};

py::dict identity_dict(const loader::Kernel& k) {
  py::dict d;
  d["repo"] = k.identity().repo;
  d["revision"] = k.identity().revision;
  d["variant"] = k.identity().variant;
  d["path"] = k.identity().dir.string();
  d["source"] = k.identity().source;
  return d;
}

std::shared_ptr<const loader::TrustPolicy> trust_from_python(py::handle policy_file,
                                                             bool require_signed) {
  if (policy_file.is_none() && !require_signed) return nullptr;  // the process's active policy
  auto policy = std::make_shared<loader::TrustPolicy>(*loader::active_trust_policy());
  if (!policy_file.is_none()) {
    std::string path = py::str(py::module_::import("os").attr("fspath")(policy_file));
    policy->merge(loader::read_trust_policy(path));  // names its file among the layers
  }
  if (require_signed) policy->require_signed();
  return policy;
}

// "org/name[:layer]" + revision → "org/name@revision[:layer]".
std::string with_revision(const std::string& ref, const std::string& revision, const char* option) {
  size_t slash = ref.find('/');
  size_t colon = ref.find(':', slash == std::string::npos ? 0 : slash);
  KHUB_CHECK_ARG(ref.find('@') == std::string::npos, "get_kernel: \"", ref,
                 "\" already names a revision; give it there or in ", option, "=, not both");
  if (colon == std::string::npos) return ref + "@" + revision;
  return ref.substr(0, colon) + "@" + revision + ref.substr(colon);
}

hub::KernelOptions kernel_options(const std::string& device, py::handle hub, py::handle lockfile,
                                  py::handle trust_policy, bool require_signed, bool verify) {
  hub::KernelOptions o;
  o.device = Device::parse(device);
  o.verify = verify;
  if (!hub.is_none()) {
    auto sources = std::make_shared<hub::HubSources>();
    py::list dirs;
    if (py::isinstance<py::str>(hub) || py::hasattr(hub, "__fspath__")) {
      dirs.append(hub);
    } else {
      for (py::handle h : hub) dirs.append(h);
    }
    std::vector<std::filesystem::path> paths;
    for (py::handle h : dirs) {
      paths.emplace_back(std::string(py::str(py::module_::import("os").attr("fspath")(h))));
    }
    *sources = hub::hub_sources_with(paths);
    o.sources = sources;
  }
  o.locks = locks_from_python(lockfile);
  o.trust_policy = trust_from_python(trust_policy, require_signed);
  return o;
}

}  // namespace

void register_kernels(py::module_& m) {
  py::class_<PyKernelFunction>(m, "KernelFunction",
                               "One function of a kernel's manifest; call it with tensors "
                               "(positional in signature order, or by name) and attributes.")
      .def("__call__", &PyKernelFunction::call)
      .def_property_readonly("name", [](const PyKernelFunction& f) { return f.fn().info().name; })
      .def_property_readonly(
          "signature", [](const PyKernelFunction& f) { return signature_text(f.fn().info()); })
      .def_property_readonly(
          "__doc__", [](const PyKernelFunction& f) { return signature_text(f.fn().info()); })
      .def_property_readonly("args",
                             [](const PyKernelFunction& f) {
                               py::list l;
                               for (const loader::ArgInfo& a : f.fn().info().args) {
                                 py::dict d;
                                 d["name"] = a.name;
                                 d["role"] = loader::arg_role_name(a.role);
                                 d["dtypes"] = a.dtypes_text;
                                 d["ndim"] = a.ndim;
                                 d["optional"] = a.optional();
                                 d["contiguous"] = a.contiguous();
                                 l.append(d);
                               }
                               return l;
                             })
      .def("__repr__", [](const PyKernelFunction& f) {
        return "<khub kernel function " + signature_text(f.fn().info()) + " of " +
               f.fn().kernel().identity().label() + ">";
      });

  py::class_<KernelPtr>(m, "Kernel",
                        "A loaded, verified hub kernel; its manifest's functions "
                        "are attributes (kernel.rms_norm_forward(x, w, out, eps=1e-6)).")
      .def("__getattr__",
           [](const KernelPtr& k, const std::string& name) -> py::object {
             if (!k->has_function(name)) {
               std::string names;
               for (const auto& f : k->manifest().functions)
                 names += (names.empty() ? "" : ", ") + f.name;
               throw py::attribute_error(k->identity().label() + " has no function '" + name +
                                         "' (functions: " + names + ")");
             }
             return py::cast(PyKernelFunction(k->function(name)));
           })
      .def("__dir__",
           [](const KernelPtr& k) {
             py::list l;
             for (const auto& f : k->manifest().functions) l.append(f.name);
             for (const char* a : {"functions", "layers", "layer", "identity", "trust", "manifest",
                                   "metadata", "repo", "revision", "variant", "path"})
               l.append(a);
             return l;
           })
      .def_property_readonly("functions",
                             [](const KernelPtr& k) {
                               py::list l;
                               for (const auto& f : k->manifest().functions) l.append(f.name);
                               return l;
                             })
      .def_property_readonly("layers",
                             [](const KernelPtr& k) {
                               py::list l;
                               for (const auto& f : k->manifest().layers) l.append(f.name);
                               return l;
                             })
      .def(
          "layer",
          [](const KernelPtr& k, const std::string& name) {
            loader::KernelLayer layer = k->layer(name);
            py::dict d;
            d["forward"] = PyKernelFunction(layer.forward);
            d["backward"] =
                layer.backward ? py::cast(PyKernelFunction(*layer.backward)) : py::none();
            return d;
          },
          "{'forward': fn, 'backward': fn or None} of a manifest layer (RMSNorm, ...)")
      .def_property_readonly("identity",
                             [](const KernelPtr& k) { return identity_dict(*k.kernel); })
      .def_property_readonly("repo", [](const KernelPtr& k) { return k->identity().repo; })
      .def_property_readonly("revision", [](const KernelPtr& k) { return k->identity().revision; })
      .def_property_readonly("variant", [](const KernelPtr& k) { return k->identity().variant; })
      .def_property_readonly("path", [](const KernelPtr& k) { return k->identity().dir.string(); })
      .def_property_readonly(
          "trust", [](const KernelPtr& k) { return json_to_python(k->trust().to_json()); })
      .def_property_readonly("manifest",
                             [](const KernelPtr& k) {
                               return json_to_python(loader::manifest_to_json(k->manifest()));
                             })
      .def("__repr__",
           [](const KernelPtr& k) { return "<khub kernel " + k->identity().label() + ">"; });

  m.def(
      "get_kernel",
      [](std::string ref, std::optional<std::string> revision, std::optional<std::string> version,
         const std::string& device, py::object hub, py::object lockfile, py::object trust_policy,
         bool require_signed, bool verify) {
        KHUB_CHECK_ARG(!(revision && version), "get_kernel: give revision= or version=, not both");
        if (revision) ref = with_revision(ref, *revision, "revision");
        if (version) ref = with_revision(ref, *version, "version");
        hub::KernelOptions o =
            kernel_options(device, hub, lockfile, trust_policy, require_signed, verify);
        py::gil_scoped_release release;
        return KernelPtr{hub::get_kernel(ref, o)};
      },
      py::arg("ref"), py::kw_only(), py::arg("revision") = py::none(),
      py::arg("version") = py::none(), py::arg("device") = "cpu", py::arg("hub") = py::none(),
      py::arg("lockfile") = py::none(), py::arg("trust_policy") = py::none(),
      py::arg("require_signed") = false, py::arg("verify") = true);

  m.def(
      "get_local_kernel",
      [](py::object path, const std::string& device, py::object trust_policy, bool require_signed) {
        hub::KernelOptions o = kernel_options(device, py::none(), py::bool_(false), trust_policy,
                                              require_signed, true);
        std::string p = py::str(py::module_::import("os").attr("fspath")(path));
        py::gil_scoped_release release;
        return KernelPtr{hub::get_local_kernel(p, o)};
      },
      py::arg("path"), py::kw_only(), py::arg("device") = "cpu",
      py::arg("trust_policy") = py::none(), py::arg("require_signed") = false);

  m.def(
      "has_kernel",
      [](std::string ref, std::optional<std::string> revision, std::optional<std::string> version,
         const std::string& device, py::object hub, py::object lockfile) {
        KHUB_CHECK_ARG(!(revision && version), "has_kernel: give revision= or version=, not both");
        if (revision) ref = with_revision(ref, *revision, "revision");
        if (version) ref = with_revision(ref, *version, "version");
        hub::KernelOptions o = kernel_options(device, hub, lockfile, py::none(), false, true);
        py::gil_scoped_release release;
        return hub::has_kernel(ref, o);
      },
      py::arg("ref"), py::kw_only(), py::arg("revision") = py::none(),
      py::arg("version") = py::none(), py::arg("device") = "cpu", py::arg("hub") = py::none(),
      py::arg("lockfile") = py::none());
}

}  // namespace khub::python
