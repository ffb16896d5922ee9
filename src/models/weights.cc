#include "models/weights.h"

#include "io/safetensors_model_files.h"

namespace khub {

Tensor InMemoryWeights::get(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) fail(ErrorKind::kNotFound, "tensor '", name, "' is not in ", describe());
  return it->second;
}

namespace {

class SafetensorsWeights : public WeightSource {
 public:
  explicit SafetensorsWeights(const std::string& dir)
      : files_(SafetensorsModelFiles::open(dir)), dir_(dir) {}
  bool has(const std::string& name) const override { return files_.has(name); }
  Tensor get(const std::string& name) const override { return files_.get(name); }
  std::string describe() const override { return "checkpoint " + dir_; }

 private:
  SafetensorsModelFiles files_;
  std::string dir_;
};

}  // namespace

std::unique_ptr<WeightSource> open_model_weights(const std::string& dir) {
  return std::make_unique<SafetensorsWeights>(dir);
}

}  // namespace khub
