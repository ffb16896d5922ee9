// Training through a CausalLM (docs/design.md §10): a batch of token rows → the next-token
// cross-entropy (exactly transformers' `model(input_ids, labels=labels).loss`), and its backward
// as an explicit reverse walk over the decoder layers (no tape engine): each layer's backward
// lives next to its forward (layers/), in a slot kernelize fills in Mode::kTraining.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

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
  double item() const { return value_; }      // mean over the scored tokens
  int64_t tokens() const { return tokens_; }  // tokens scored (labels other than -100)
  void backward(float scale = 1.0f);
  bool has_backward() const { return tape_ != nullptr; }

 private:
  friend class CausalLM;
  CausalLM* model_ = nullptr;
  std::shared_ptr<TrainTape> tape_;
  double value_ = 0.0;
  int64_t tokens_ = 0;
};

}  // namespace khub
