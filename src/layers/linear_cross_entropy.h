// The LM head and its loss as one layer, key "LinearCrossEntropy" (docs/layer-contracts.md; the
// role of Liger's fused linear cross-entropy): logits = hidden · weightᵀ, soft-capped when
// softcap > 0 (cap · tanh(logits / cap)), and the cross-entropy of each row against its target
// (ignore_index rows score nothing), computed chunk by chunk of rows so that the [T, V] logits
// never exist. The backward recomputes each chunk's logits and produces the hidden states' and the
// weight's gradients. A kernel fills both slots or neither (docs/design.md §10).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "layers/layer.h"

namespace khub {

// The targets of T rows: on the host (the reference checks and reads them there) and as [T] i32
// on the hidden states' device (what a kernel reads). -100 marks a row that is not scored.
struct CrossEntropyTargets {
  std::vector<int32_t> host;
  Tensor ids;
};

// Forward: hidden [T, H], weight [V, H] (both in the activations' dtype); returns the loss parts:
// a 1-D tensor whose elements sum (in double, in order) to the sum of the rows' losses — a kernel's
// per-row losses (f32 [T] on the hidden states' device, never read during the step, so that a
// captured training step replays it), or the reference's sum (f64 [1] on the host).
// Backward: returns grad_hidden [T, H] (hidden's dtype) for d(grad_scale · sum)/d hidden, and
// adds d(grad_scale · sum)/d weight into *dweight (f32 [V, H]) when non-null.
using LinearCrossEntropyForward = Tensor(const Tensor& hidden, const Tensor& weight,
                                         const CrossEntropyTargets& targets);
using LinearCrossEntropyBackward = Tensor(const Tensor& hidden, const Tensor& weight,
                                          const CrossEntropyTargets& targets, float grad_scale,
                                          Tensor* dweight);

class LinearCrossEntropyLayer
    : public SlottedLayer<LinearCrossEntropyForward, LinearCrossEntropyBackward> {
 public:
  static constexpr int32_t kIgnoreIndex = -100;

  LinearCrossEntropyLayer(std::string path, float softcap)
      : SlottedLayer(std::move(path)), softcap(softcap) {}

  std::string_view layer_key() const override { return "LinearCrossEntropy"; }
  // The sum of the rows' losses (reads the parts back: a host synchronisation on a device).
  double forward(const Tensor& hidden, const Tensor& weight,
                 const CrossEntropyTargets& targets) const {
    return sum_parts(forward_parts(hidden, weight, targets));
  }
  // The loss parts (see LinearCrossEntropyForward), left where they were computed.
  Tensor forward_parts(const Tensor& hidden, const Tensor& weight,
                       const CrossEntropyTargets& targets) const {
    return slot_ ? slot_(hidden, weight, targets) : reference_parts(hidden, weight, targets);
  }
  // Σ parts in double, in order (parts f32 or f64, on any device).
  static double sum_parts(const Tensor& parts);
  Tensor backward(const Tensor& hidden, const Tensor& weight, const CrossEntropyTargets& targets,
                  float grad_scale, Tensor* dweight) const {
    return backward_slot_ ? backward_slot_(hidden, weight, targets, grad_scale, dweight)
                          : reference_backward(hidden, weight, targets, grad_scale, dweight);
  }
  double reference_forward(const Tensor& hidden, const Tensor& weight,
                           const CrossEntropyTargets& targets) const;
  // reference_forward's sum as parts: f64 [1] on the host.
  Tensor reference_parts(const Tensor& hidden, const Tensor& weight,
                         const CrossEntropyTargets& targets) const;
  Tensor reference_backward(const Tensor& hidden, const Tensor& weight,
                            const CrossEntropyTargets& targets, float grad_scale,
                            Tensor* dweight) const;

  // Rows of logits the reference computes at once: [rows, V] logits of about 32 MiB in f32.
  static int64_t reference_chunk_rows(int64_t vocab);
  // Checks hidden / weight / targets agree (shapes, devices, dtypes, each target in [0, V) or
  // ignored): an error naming the layer and what was expected, before anything is computed.
  void check(const Tensor& hidden, const Tensor& weight, const CrossEntropyTargets& targets) const;

  float softcap;  // 0: none
};

}  // namespace khub
