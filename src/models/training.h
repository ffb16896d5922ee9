// Training through a CausalLM (docs/design.md §10): a batch of token rows → the next-token
// cross-entropy (exactly transformers' `model(input_ids, labels=labels).loss`), and its backward
// as an explicit reverse walk over the decoder layers (no tape engine): each layer's backward
// lives next to its forward (layers/), in a slot kernelize fills in Mode::kTraining.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace khub {

class CausalLM;
struct TrainTape;  // the activations a forward saved for its backward (causal_lm_train.cc)

struct TrainBatch {
  // One sequence per row, each at least 2 tokens; rows may differ in length (each row is its own
  // causal sequence, as a padded batch with an attention mask would be, minus the padding).
  std::vector<std::vector<int32_t>> input_ids;
  // Empty: the labels are input_ids. Else one row per input row, same lengths; -100 is ignored.
  // Shifted inside as transformers does: position t is scored against labels[t + 1].
  std::vector<std::vector<int32_t>> labels;
};

// The loss of one forward. backward() walks the layers in reverse once, adding d(scale · loss)/dθ
// into every parameter's grad (CausalLM::parameters()), then frees the saved activations.
class Loss {
 public:
  Loss() = default;
  // The mean over the scored tokens. The first call reads the loss parts back (a host
  // synchronisation when they are on a device) and sums them in double.
  double item() const;
  int64_t tokens() const { return tokens_; }  // tokens scored (labels other than -100)
  // The unsummed loss where it was computed: a kernel's per-row losses on the device, or the
  // reference's sum on the host (layers/linear_cross_entropy.h). A captured step keeps these.
  const Tensor& parts() const { return parts_; }
  void backward(float scale = 1.0f);
  bool has_backward() const { return tape_ != nullptr; }

 private:
  friend class CausalLM;
  CausalLM* model_ = nullptr;
  std::shared_ptr<TrainTape> tape_;
  Tensor parts_;
  mutable std::optional<double> value_;
  int64_t tokens_ = 0;
};

// A training batch staged on the model's device (CausalLM::stage): loss()'s host work — the
// checks, the packing, the uploads of ids, targets, sequences and rope tables — done apart from
// its device work (CausalLM::staged_loss), so that a CUDA graph can capture the device work
// (train/step_graph.h). Its layout (rows, their lengths, the count of scored tokens) is fixed;
// CausalLM::restage copies another batch of that layout into the same device buffers, which is
// what a replayed step reads. One loss at a time per staged batch: staged_loss() rewrites what
// the previous one saved.
class StagedBatch {
 public:
  bool defined() const { return tape_ != nullptr; }
  int64_t tokens() const;  // packed tokens
  int64_t scored() const;  // tokens scored

 private:
  friend class CausalLM;
  std::shared_ptr<TrainTape> tape_;
};

}  // namespace khub
