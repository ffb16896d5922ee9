#include "kernel_library.h"

#include <dlfcn.h>

#include <cstring>

#include "core/dlpack.h"
#include "core/error.h"

namespace khub_bench {

KernelLibrary::KernelLibrary(const std::string& path) {
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr)
    khub::fail(khub::ErrorKind::kNotFound, "cannot load kernel library ", path, ": ", dlerror(),
               " (build it first: cmake --build build --target khub_kernel_<name>_cpu)");
  auto entry = reinterpret_cast<khub_manifest_fn>(dlsym(handle_, KHUB_KERNEL_ENTRY_SYMBOL));
  if (entry == nullptr) khub::fail(khub::ErrorKind::kVerification, path, " has no manifest");
  manifest_ = entry();
}

KernelLibrary::~KernelLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

khub_kernel_fn KernelLibrary::function(const std::string& name) const {
  for (int i = 0; i < manifest_->num_functions; ++i)
    if (name == manifest_->functions[i].name)
      return reinterpret_cast<khub_kernel_fn>(dlsym(handle_, manifest_->functions[i].symbol));
  khub::fail(khub::ErrorKind::kNotFound, "kernel ", manifest_->kernel_name, " has no function ",
             name);
}

khub_workspace_fn KernelLibrary::workspace_query(const std::string& name) const {
  for (int i = 0; i < manifest_->num_functions; ++i)
    if (name == manifest_->functions[i].name) return manifest_->functions[i].workspace_size;
  return nullptr;
}

PreparedCall::PreparedCall(khub_kernel_fn fn, int threads) : fn_(fn) {
  context_.struct_version = 1;
  context_.device = {kDLCPU, 0};
  context_.num_threads = threads;
}

PreparedCall& PreparedCall::tensor(const khub::Tensor& t) {
  tensors_.push_back(t);
  dl_.push_back(khub::to_dltensor(tensors_.back()));
  return *this;
}

PreparedCall& PreparedCall::attr_float(const char* name, double v) {
  names_.emplace_back(name);
  khub_named_value nv{names_.back().c_str(), {}};
  nv.value.kind = KHUB_VALUE_FLOAT;
  nv.value.v.f = v;
  attrs_.push_back(nv);
  return *this;
}

PreparedCall& PreparedCall::attr_int(const char* name, int64_t v) {
  names_.emplace_back(name);
  khub_named_value nv{names_.back().c_str(), {}};
  nv.value.kind = KHUB_VALUE_INT;
  nv.value.v.i = v;
  attrs_.push_back(nv);
  return *this;
}

PreparedCall& PreparedCall::attr_bool(const char* name, bool v) {
  names_.emplace_back(name);
  khub_named_value nv{names_.back().c_str(), {}};
  nv.value.kind = KHUB_VALUE_BOOL;
  nv.value.v.i = v ? 1 : 0;
  attrs_.push_back(nv);
  return *this;
}

khub_call PreparedCall::make_call() {
  khub_call call{};
  call.struct_version = 1;
  call.context = &context_;
  call.num_tensors = static_cast<int32_t>(dl_.size());
  call.tensors = dl_.data();
  call.num_attrs = static_cast<int32_t>(attrs_.size());
  call.attrs = attrs_.data();
  return call;
}

PreparedCall& PreparedCall::workspace(khub_workspace_fn query) {
  if (query == nullptr) return *this;
  khub_call call = make_call();
  uint64_t bytes = query(&call);
  workspace_.assign((bytes + 3) / 4, 0.0f);
  context_.workspace = workspace_.empty() ? nullptr : workspace_.data();
  context_.workspace_bytes = bytes;
  return *this;
}

void PreparedCall::run() {
  khub_call call = make_call();
  khub_error error{};
  error.struct_version = 1;
  if (fn_(&call, &error) != KHUB_STATUS_OK)
    khub::fail(khub::ErrorKind::kKernel, "kernel call failed: ", error.message);
}

}  // namespace khub_bench
