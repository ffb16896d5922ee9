// Where a model's tensors come from: a name → tensor source (HF weight names). The safetensors
// reader (io/) provides one over a model directory; tests can provide one from memory.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace khub {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual bool has(const std::string& name) const = 0;
  // Throws Error(kNotFound) naming the tensor and the source.
  virtual Tensor get(const std::string& name) const = 0;
  virtual std::string describe() const = 0;
};

class InMemoryWeights : public WeightSource {
 public:
  std::map<std::string, Tensor> tensors;
  bool has(const std::string& name) const override { return tensors.count(name) > 0; }
  Tensor get(const std::string& name) const override;
  std::string describe() const override { return "in-memory weights"; }
};

// Opens model.safetensors or the sharded model.safetensors.index.json in dir (mmap, zero-copy).
std::unique_ptr<WeightSource> open_model_weights(const std::string& dir);

}  // namespace khub
