// Optimizers over a model's parameters (training, docs/design.md §10): AdamW and SGD with
// exactly torch.optim's update rules, computed in f32 on f32 tensors in the order torch's
// single-tensor (CPU) path computes them, so a run matches torch step for step to float rounding.
//
// An optimizer holds copies of the Parameter handles (Tensor copies share storage): step() reads
// each grad and updates each value in place. Weight decay applies to every parameter, as
// torch.optim does when given model.parameters(). Parameters are contiguous f32 tensors on one
// device; anything else is refused at construction. On CUDA a step is one fused multi-tensor
// launch (ops/optim.h) with the same per-element rule as the CPU loop.
//
// Checkpoints: state() names every state tensor "<kind>.<parameter name>" ("exp_avg.",
// "exp_avg_sq.", "momentum_buffer."); load_state() copies such a map back, together with the
// number of steps taken, so that a resumed run continues bit-identically.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "models/parameters.h"
#include "ops/optim.h"

namespace khub {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update from the current grads; the step count goes up by one first (torch's `step`).
  virtual void step() = 0;
  // Fills every grad with zeros (torch's zero_grad(set_to_none=False)).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);  // a schedule calls this before each step
  int64_t step_count() const { return step_; }

  // "adamw" or "sgd", and the hyper-parameters: {"type": name(), "lr": ..., ...}. The lr here is
  // the current one (a schedule changes it); make_optimizer() takes the same object back.
  virtual std::string name() const = 0;
  virtual nlohmann::json config() const = 0;

  // The state tensors by name, sharing storage with the live state (write them out before the
  // next step). Empty before the first step (torch creates state lazily too).
  virtual std::map<std::string, Tensor> state() const = 0;
  // Copies a map from state() back. Throws Error(kInvalidArgument) naming the tensor when one is
  // missing, unexpected, or of another shape or dtype; nothing is changed then.
  virtual void load_state(const std::map<std::string, Tensor>& state, int64_t step_count) = 0;

  const std::vector<Parameter>& params() const { return params_; }

 protected:
  // Throws Error(kInvalidArgument) for an empty list, a duplicate name, a grad of another shape;
  // Error(kUnsupported) for a parameter that is not a contiguous f32 tensor on the first one's
  // device.
  Optimizer(std::vector<Parameter> params, double lr);
  // Checks that `state` holds exactly `prefix + name` for every parameter (for each prefix),
  // f32 and shaped like the parameter.
  void check_state(const std::map<std::string, Tensor>& state,
                   const std::vector<std::string>& prefixes) const;

  std::vector<Parameter> params_;
  double lr_;
  int64_t step_ = 0;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// torch.optim.AdamW (amsgrad off, maximize off). Per parameter, with t the new step count:
//   p *= 1 - lr·wd;  m = lerp(m, g, 1 - β1);  v = β2·v + (1 - β2)·g·g;
//   p -= (lr / (1 - β1^t)) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)
// Scalars (bias corrections, lr·wd) are computed in double as Python does, then applied in f32.
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Parameter> params, const AdamWOptions& options = {});
  void step() override;
  std::string name() const override { return "adamw"; }
  nlohmann::json config() const override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state, int64_t step_count) override;
  const AdamWOptions& options() const { return options_; }
  // A captured step (train/step_graph.h; CUDA): prepare_captured_step() — outside the capture,
  // before every replay — advances the step count and writes this step's scalars (learning rate,
  // bias corrections) into the device buffer that captured_step()'s one launch reads, so that a
  // replay of the captured launch is this step's update. The tables of every tensor are built at
  // the first call.
  void prepare_captured_step();
  void captured_step();

 private:
  void ensure_state();
  ops::AdamWScalars next_scalars();  // advances the step count
  AdamWOptions options_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;  // allocated at the first step
  ops::MultiTensorPlan plan_;                 // captured steps: the tables, built once
  Tensor scalars_;                            // captured steps: this step's AdamWScalars
  bool planned_ = false;
};

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening 0, as in torch
};

// torch.optim.SGD: g += wd·p; with momentum, buf = g at the first step, else
// buf = momentum·buf + (1 - dampening)·g, and g = nesterov ? g + momentum·buf : buf; p -= lr·g.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Parameter> params, const SGDOptions& options = {});
  void step() override;
  std::string name() const override { return "sgd"; }
  nlohmann::json config() const override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state, int64_t step_count) override;
  const SGDOptions& options() const { return options_; }

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffer_;  // allocated at the first step when momentum != 0
};

// Builds an optimizer from a config() object ({"type": "adamw"|"sgd", ...}; missing fields take
// the defaults above). Throws Error(kInvalidArgument) naming an unknown type or a bad field.
std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& config,
                                          std::vector<Parameter> params);

}  // namespace khub
