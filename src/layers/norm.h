// RMSNorm, GemmaRMSNorm and FusedAddRMSNorm layers (separate keys: a Gemma norm must never be
// routed to a plain RMSNorm kernel).
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

// The residual add and the RMSNorm after it, as one layer: key "FusedAddRMSNorm" (a decoder's
// post-attention norm and the next layer's input norm both follow an add into the residual
// stream). `residual += x` in the residual's dtype, then RMSNorm of the sum.
class FusedAddRMSNormLayer : public SlottedLayer<Tensor(const Tensor& x, Tensor& residual)> {
 public:
  FusedAddRMSNormLayer(std::string path, Tensor weight, float eps)
      : SlottedLayer(std::move(path)), weight(std::move(weight)), eps(eps) {}

  std::string_view layer_key() const override { return "FusedAddRMSNorm"; }
  Tensor forward(const Tensor& x, Tensor& residual) const {
    return slot_ ? slot_(x, residual) : reference_forward(x, residual);
  }
  Tensor reference_forward(const Tensor& x, Tensor& residual) const;

  Tensor weight;  // [H]
  float eps;
};

}  // namespace khub
