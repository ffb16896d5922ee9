// RMSNorm, GemmaRMSNorm and FusedAddRMSNorm layers (separate keys: a Gemma norm must never be
// routed to a plain RMSNorm kernel).
#pragma once

#include "core/tensor.h"
#include "layers/layer.h"

namespace khub {

// Backward: x is the forward's input, dy the gradient of its output; returns dx and adds the
// weight's gradient into *dweight (f32 [H]) when non-null.
using NormBackward = Tensor(const Tensor& x, const Tensor& dy, Tensor* dweight);

class RMSNormLayer : public SlottedLayer<Tensor(const Tensor& x), NormBackward> {
 public:
  RMSNormLayer(std::string path, Tensor weight, float eps, bool gemma)
      : SlottedLayer(std::move(path)), weight(std::move(weight)), eps(eps), gemma(gemma) {}

  std::string_view layer_key() const override { return gemma ? "GemmaRMSNorm" : "RMSNorm"; }
  Tensor forward(const Tensor& x) const { return slot_ ? slot_(x) : reference_forward(x); }
  Tensor reference_forward(const Tensor& x) const;
  Tensor backward(const Tensor& x, const Tensor& dy, Tensor* dweight) const {
    return backward_slot_ ? backward_slot_(x, dy, dweight) : reference_backward(x, dy, dweight);
  }
  Tensor reference_backward(const Tensor& x, const Tensor& dy, Tensor* dweight) const;

  Tensor weight;  // [H], the checkpoint's dtype
  float eps;
  bool gemma;
};

// The residual add and the RMSNorm after it, as one layer: key "FusedAddRMSNorm" (a decoder's
// post-attention norm and the next layer's input norm both follow an add into the residual
// stream). `residual += x` in the residual's dtype, then RMSNorm of the sum.
// Backward: `sum` is the residual as the forward left it (x + residual, the normalized value), dy
// the gradient of the output; the norm's input gradient is added into `dresidual` (the gradient
// flowing into the residual stream from later layers), which is then the gradient of both x and
// the residual before the add. The weight's gradient is added into *dweight when non-null.
using FusedAddNormBackward = void(const Tensor& sum, const Tensor& dy, Tensor& dresidual,
                                  Tensor* dweight);

class FusedAddRMSNormLayer
    : public SlottedLayer<Tensor(const Tensor& x, Tensor& residual), FusedAddNormBackward> {
 public:
  FusedAddRMSNormLayer(std::string path, Tensor weight, float eps)
      : SlottedLayer(std::move(path)), weight(std::move(weight)), eps(eps) {}

  std::string_view layer_key() const override { return "FusedAddRMSNorm"; }
  Tensor forward(const Tensor& x, Tensor& residual) const {
    return slot_ ? slot_(x, residual) : reference_forward(x, residual);
  }
  Tensor reference_forward(const Tensor& x, Tensor& residual) const;
  void backward(const Tensor& sum, const Tensor& dy, Tensor& dresidual, Tensor* dweight) const {
    if (backward_slot_) {
      backward_slot_(sum, dy, dresidual, dweight);
    } else {
      reference_backward(sum, dy, dresidual, dweight);
    }
  }
  void reference_backward(const Tensor& sum, const Tensor& dy, Tensor& dresidual,
                          Tensor* dweight) const;

  Tensor weight;  // [H]
  float eps;
};

}  // namespace khub
