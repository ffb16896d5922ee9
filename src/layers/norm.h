// RMSNorm and GemmaRMSNorm layers (separate keys: a Gemma norm must never be routed to a plain
// RMSNorm kernel).
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"

namespace khub {

class RMSNormLayer : public SlottedLayer<Tensor(const Tensor& x)> {
 public:
  RMSNormLayer(std::string path, Tensor weight, float eps, bool gemma)
      : SlottedLayer(std::move(path)), weight(std::move(weight)), eps(eps), gemma(gemma) {}

  std::string_view layer_key() const override { return gemma ? "GemmaRMSNorm" : "RMSNorm"; }
  Tensor forward(const Tensor& x) const { return slot_ ? slot_(x) : reference_forward(x); }
  Tensor reference_forward(const Tensor& x) const;

  Tensor weight;  // [H], the checkpoint's dtype
  float eps;
  bool gemma;
};

}  // namespace khub
