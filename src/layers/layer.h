// Kernel-replaceable layers (docs/design.md §1, §8). Each carries a layer key ("RMSNorm",
// "SiluAndMul", "rotary_pos_emb", "Attention", ...), a forward slot and a backward slot: the
// reference runs while a slot is empty; kernelize fills the slots per instance with calls into a
// kernel (the backward only in Mode::kTraining, from the kernel layer's declared backward function)
// and records which kernel it is, never changing the layer's signature.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace khub {

class KernelizableLayer {
 public:
  explicit KernelizableLayer(std::string path) : path_(std::move(path)) {}
  virtual ~KernelizableLayer() = default;

  // The layer key mappings refer to.
  virtual std::string_view layer_key() const = 0;
  // Module path in HF naming, e.g. "model.layers.3.input_layernorm".
  const std::string& path() const { return path_; }
  // Which kernel runs ("khub-community/rmsnorm@<rev>:RMSNorm (khub1-cpu-x86_64-linux)"), or empty
  // while the reference forward runs.
  const std::string& kernel_description() const { return kernel_description_; }
  bool kernelized() const { return !kernel_description_.empty(); }
  virtual void reset_forward() = 0;
  // Why this layer takes no kernel at all right now, asked before kernelize loads one ("" by
  // default): the reason goes to the report, and no kernel is loaded for the key.
  virtual std::string declines_kernels() const { return ""; }

 protected:
  std::string kernel_description_;

 private:
  std::string path_;
};

// A layer whose forward signature is Fn and backward signature Bwd (void(): the layer has no
// backward of its own): holds the slots that kernelize fills. A kernel's backward is only ever
// set together with its forward (one kernel serves both directions or neither).
template <typename Fn, typename Bwd = void()>
class SlottedLayer : public KernelizableLayer {
 public:
  using Forward = Fn;
  using Backward = Bwd;
  using KernelizableLayer::KernelizableLayer;

  void set_forward(std::function<Fn> fn, std::string description) {
    slot_ = std::move(fn);
    kernel_description_ = std::move(description);
  }
  void set_backward(std::function<Bwd> fn) { backward_slot_ = std::move(fn); }
  bool kernel_backward() const { return static_cast<bool>(backward_slot_); }
  void reset_forward() override {
    slot_ = nullptr;
    backward_slot_ = nullptr;
    kernel_description_.clear();
  }

 protected:
  std::function<Fn> slot_;
  std::function<Bwd> backward_slot_;
};

}  // namespace khub
