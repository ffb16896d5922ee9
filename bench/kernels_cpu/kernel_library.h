// A shipped kernel library (build/kernels/<name>/libkhub_<name>.so) opened with dlopen, and a
// prepared khub_call to time: tensors, attributes and workspace are set up once, so each timed
// call is exactly what a host pays per call through the ABI (validation included).
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "khub/kernel_abi.h"

namespace khub_bench {

class KernelLibrary {
 public:
  explicit KernelLibrary(const std::string& path);  // throws khub::Error when it cannot load
  ~KernelLibrary();
  KernelLibrary(const KernelLibrary&) = delete;
  KernelLibrary& operator=(const KernelLibrary&) = delete;

  const khub_manifest& manifest() const { return *manifest_; }
  khub_kernel_fn function(const std::string& name) const;
  khub_workspace_fn workspace_query(const std::string& name) const;

 private:
  void* handle_ = nullptr;
  const khub_manifest* manifest_ = nullptr;
};

class PreparedCall {
 public:
  PreparedCall(khub_kernel_fn fn, int threads);
  PreparedCall& tensor(const khub::Tensor& t);
  PreparedCall& attr_float(const char* name, double v);
  PreparedCall& attr_int(const char* name, int64_t v);
  PreparedCall& attr_bool(const char* name, bool v);
  // Allocates the workspace `query` asks for (call after adding every tensor and attribute).
  PreparedCall& workspace(khub_workspace_fn query);
  void run();  // throws khub::Error with the kernel's message on failure

 private:
  khub_call make_call();
  khub_kernel_fn fn_;
  std::deque<khub::Tensor> tensors_;
  std::vector<DLTensor> dl_;
  std::deque<std::string> names_;
  std::vector<khub_named_value> attrs_;
  khub_exec_context context_{};
  std::vector<float> workspace_;
};

}  // namespace khub_bench
