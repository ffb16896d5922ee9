#include "loader/kernel.h"

#include <algorithm>
#include <cstring>

#include "core/allocator.h"
#include "core/dlpack.h"
#include "core/error.h"

namespace khub::loader {
namespace {

const char* status_name(khub_status s) {
  switch (s) {
    case KHUB_STATUS_OK:
      return "ok";
    case KHUB_STATUS_INVALID_ARGUMENT:
      return "invalid argument";
    case KHUB_STATUS_UNSUPPORTED:
      return "unsupported";
    case KHUB_STATUS_DEVICE_ERROR:
      return "device error";
    case KHUB_STATUS_INTERNAL:
      return "internal error";
  }
  return "unknown status";
}

DeviceType device_for_backend(const std::string& backend) {
  if (backend == "cuda") return DeviceType::kCUDA;
  if (backend == "rocm") return DeviceType::kROCm;
  if (backend == "metal") return DeviceType::kMetal;
  if (backend == "xpu") return DeviceType::kXPU;
  if (backend == "cann") return DeviceType::kNPU;
  return DeviceType::kCPU;
}

std::string dtype_list(const std::vector<DType>& dtypes) {
  std::string s;
  for (DType d : dtypes) s += (s.empty() ? "" : ", ") + std::string(dtype_name(d));
  return s;
}

// Scratch memory from khub's allocator for the kernel's device, freed after the call.
struct Workspace {
  Allocator* allocator = nullptr;
  void* ptr = nullptr;
  size_t bytes = 0;
  ~Workspace() {
    if (ptr) allocator->deallocate(ptr, bytes);
  }
};

}  // namespace

std::string KernelIdentity::label() const {
  if (repo.empty()) return dir.string();  // a bare local folder names itself
  std::string s = repo;
  if (!revision.empty()) s += "@" + (revision.size() == 40 ? revision.substr(0, 12) : revision);
  if (!variant.empty()) s += " [" + variant + "]";
  return s;
}

Kernel::Kernel(KernelIdentity identity, VariantMetadata metadata, SharedLibrary library,
               ManifestInfo manifest, std::vector<khub_kernel_fn> functions, TrustVerdict trust,
               TrustSubject trust_subject)
    : image_(std::make_shared<const Image>(Image{std::move(identity), std::move(metadata),
                                                 std::move(library), std::move(manifest),
                                                 std::move(functions), std::move(trust_subject)})),
      trust_(std::move(trust)) {}

std::shared_ptr<const Kernel> Kernel::with_trust(TrustVerdict trust) const {
  return std::shared_ptr<const Kernel>(new Kernel(image_, std::move(trust)));
}

KernelFunction Kernel::function(const std::string& name) const {
  const ManifestInfo& m = image_->manifest;
  for (size_t i = 0; i < m.functions.size(); ++i) {
    if (m.functions[i].name == name) {
      return KernelFunction(shared_from_this(), &m.functions[i], image_->functions[i]);
    }
  }
  std::string names;
  for (const FunctionInfo& f : m.functions) names += (names.empty() ? "" : ", ") + f.name;
  fail(ErrorKind::kNotFound, identity().label(), " has no function '", name, "' (it has: ", names,
       ")");
}

KernelLayer Kernel::layer(const std::string& name) const {
  const LayerInfo* l = manifest().layer(name);
  if (!l) {
    std::string names;
    for (const LayerInfo& x : manifest().layers) names += (names.empty() ? "" : ", ") + x.name;
    fail(ErrorKind::kNotFound, identity().label(), " has no layer '", name,
         "' (it has: ", names.empty() ? "no layers" : names, ")");
  }
  KernelLayer out{l, function(l->forward), std::nullopt};
  if (!l->backward.empty()) out.backward = function(l->backward);
  return out;
}

void KernelFunction::operator()(const KernelArgs& args, const ExecOptions& options) const {
  const FunctionInfo& fn = *info_;
  const std::string where = kernel_->identity().label() + " function '" + fn.name + "'";
  auto arg_names = [&] {
    std::string s;
    for (const ArgInfo& a : fn.args) s += (s.empty() ? "" : ", ") + a.name;
    return s;
  };
  for (const auto& entry : args.tensors) {
    const std::string& name = entry.first;  // not a structured binding: lambdas capture it
    if (std::none_of(fn.args.begin(), fn.args.end(),
                     [&](const ArgInfo& a) { return a.name == name; })) {
      fail(ErrorKind::kInvalidArgument, where, ": no argument named '", name,
           "' (arguments: ", arg_names(), ")");
    }
  }
  DeviceType want_device = device_for_backend(kernel_->manifest().backend);
  std::vector<Tensor> held;  // contiguous copies and the tensors the DLTensors point into
  held.reserve(fn.args.size());
  std::vector<DLTensor> dl(fn.args.size());
  Device device = Device::cpu();
  bool device_set = false;
  for (size_t i = 0; i < fn.args.size(); ++i) {
    const ArgInfo& a = fn.args[i];
    const Tensor* given = nullptr;
    for (const auto& [name, t] : args.tensors) {
      if (name == a.name) given = &t;
    }
    if (!given || !given->defined()) {
      if (!a.optional()) {
        fail(ErrorKind::kInvalidArgument, where, ": missing argument '", a.name, "'");
      }
      std::memset(&dl[i], 0, sizeof(DLTensor));
      dl[i].device = device_to_dl(Device{want_device, 0});
      continue;
    }
    const Tensor& t = *given;
    if (t.device().type != want_device) {
      fail(ErrorKind::kInvalidArgument, where, ": argument '", a.name, "' is on ", t.device().str(),
           ", this ", kernel_->manifest().backend, " kernel needs ", device_type_name(want_device),
           " tensors");
    }
    if (device_set && !(t.device() == device)) {
      fail(ErrorKind::kInvalidArgument, where, ": argument '", a.name, "' is on ", t.device().str(),
           " but other arguments are on ", device.str());
    }
    device = t.device();
    device_set = true;
    std::vector<DType> allowed = a.dtypes;
    if (!a.same_as.empty()) {
      const Tensor* other = nullptr;
      for (const auto& [name, o] : args.tensors) {
        if (name == a.same_as) other = &o;
      }
      if (other && other->defined()) allowed = {other->dtype()};
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), t.dtype()) == allowed.end()) {
      fail(ErrorKind::kInvalidArgument, where, ": argument '", a.name, "' has dtype ",
           dtype_name(t.dtype()), ", expected ",
           a.same_as.empty() ? dtype_list(allowed)
                             : "the dtype of '" + a.same_as + "' (" + dtype_list(allowed) + ")");
    }
    if (a.ndim >= 0 && t.dim() != a.ndim) {
      fail(ErrorKind::kInvalidArgument, where, ": argument '", a.name, "' has ", t.dim(), " dims (",
           t.describe(), "), expected ", a.ndim);
    }
    if (a.contiguous() && !t.is_contiguous()) {
      if (a.role == KHUB_ARG_OUTPUT || a.role == KHUB_ARG_INOUT) {
        fail(ErrorKind::kInvalidArgument, where, ": argument '", a.name,
             "' is written by the kernel and must be contiguous");
      }
      held.push_back(t.contiguous());
    } else {
      held.push_back(t);
    }
    dl[i] = to_dltensor(held.back());
  }

  for (const auto& entry : args.attrs) {
    const std::string& name = entry.first;
    if (std::none_of(fn.attrs.begin(), fn.attrs.end(),
                     [&](const AttrInfo& a) { return a.name == name; })) {
      std::string names;
      for (const AttrInfo& a : fn.attrs) names += (names.empty() ? "" : ", ") + a.name;
      fail(ErrorKind::kInvalidArgument, where, ": no attribute named '", name,
           "' (attributes: ", names.empty() ? "none" : names, ")");
    }
  }
  std::vector<khub_named_value> attrs(fn.attrs.size());
  for (size_t i = 0; i < fn.attrs.size(); ++i) {
    const AttrInfo& a = fn.attrs[i];
    attrs[i].name = a.name.c_str();
    const AttrValue* given = nullptr;
    for (const auto& [name, v] : args.attrs) {
      if (name == a.name) given = &v;
    }
    if (!given) {
      if (a.required)
        fail(ErrorKind::kInvalidArgument, where, ": missing attribute '", a.name, "'");
      attrs[i].value = a.default_value;
      if (a.kind == KHUB_VALUE_STRING) attrs[i].value.v.s = a.default_string.c_str();
      continue;
    }
    khub_value& out = attrs[i].value;
    out.kind = a.kind;
    bool ok = true;
    switch (a.kind) {
      case KHUB_VALUE_INT:
        if (auto p = std::get_if<int64_t>(given))
          out.v.i = *p;
        else
          ok = false;
        break;
      case KHUB_VALUE_FLOAT:
        if (auto p = std::get_if<double>(given))
          out.v.f = *p;
        else if (auto q = std::get_if<int64_t>(given))
          out.v.f = static_cast<double>(*q);
        else
          ok = false;
        break;
      case KHUB_VALUE_BOOL:
        if (auto p = std::get_if<bool>(given))
          out.v.i = *p ? 1 : 0;
        else
          ok = false;
        break;
      case KHUB_VALUE_STRING:
        if (auto p = std::get_if<std::string>(given))
          out.v.s = p->c_str();
        else
          ok = false;
        break;
      default:
        ok = false;
    }
    if (!ok) {
      static const char* kKinds[] = {"none", "int", "float", "bool", "string"};
      fail(ErrorKind::kInvalidArgument, where, ": attribute '", a.name, "' must be ",
           kKinds[a.kind]);
    }
  }

  khub_exec_context ctx{};
  ctx.struct_version = 1;
  ctx.device = device_to_dl(device_set ? device : Device{want_device, 0});
  ctx.stream = options.stream;
  ctx.num_threads = options.num_threads;
  khub_call call{};
  call.struct_version = 1;
  call.context = &ctx;
  call.num_tensors = static_cast<int32_t>(dl.size());
  call.tensors = dl.data();
  call.num_attrs = static_cast<int32_t>(attrs.size());
  call.attrs = attrs.data();

  Workspace ws;
  if (fn.workspace_size) {
    uint64_t bytes = fn.workspace_size(&call);
    if (bytes > 0) {
      if (bytes > (uint64_t(1) << 40)) {
        fail(ErrorKind::kKernel, where, ": workspace request of ", bytes, " bytes is implausible");
      }
      ws.allocator = allocator_for(device_set ? device : Device{want_device, 0});
      ws.bytes = static_cast<size_t>(bytes);
      ws.ptr = ws.allocator->allocate(ws.bytes);
      ctx.workspace = ws.ptr;
      ctx.workspace_bytes = bytes;
    }
  }

  khub_error err{};
  err.struct_version = 1;
  khub_status st = fn_(&call, &err);
  if (st != KHUB_STATUS_OK) {
    err.message[sizeof(err.message) - 1] = '\0';
    fail(ErrorKind::kKernel, where, " failed (", status_name(st),
         "): ", err.message[0] ? err.message : "no message");
  }
}

}  // namespace khub::loader
