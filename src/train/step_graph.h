// A training step captured into CUDA graphs and replayed (docs/design.md §train-graphs; Mode
// training|compile on CUDA): the micro-batch step (loss forward, backward) in one graph, the update
// (global norm and clipping, the fused AdamW, zero_grad) in another. What a replay reads is fixed
// at capture, so every input that changes between steps lives in device memory refreshed before
// the replay: the batch's ids and targets (CausalLM::restage into the StagedBatch's buffers) and
// AdamW's scalars (AdamW::prepare_captured_step). The batch layout (rows, lengths, scored tokens)
// and the micro-batch count are baked in; a step of another layout is staged and captured again.
// The first step runs eagerly through the same calls (it allocates the optimizer state and the
// libraries' handles, which a capture must not), and captures happen from the second on.
// Host work per step: the uploads, two graph launches per micro-batch and update, and one read of
// the losses and the norm. A non-finite loss or norm is reported after the update it came with has
// been applied (the trainer stops without saving it; the last checkpoint on disk is kept).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cuda_graph.h"
#include "models/causal_lm.h"
#include "ops/optim.h"
#include "train/optimizer.h"

namespace khub {

class StepGraph {
 public:
  // Throws Error(kUnsupported) naming the reason when this model's step cannot be captured
  // (CausalLM::train_capture_blocker) or the optimizer is not AdamW; clip as TrainOptions::clip.
  StepGraph(CausalLM& model, Optimizer& optimizer, double clip);
  ~StepGraph();

  struct Result {
    double loss = 0.0;       // the mean over micro-batches of each one's mean loss
    double grad_norm = 0.0;  // before clipping
    int64_t scored = 0;      // tokens scored, all micro-batches
  };
  // One optimizer step at the optimizer's current learning rate over these micro-batches (each
  // loss scaled by 1 / count, as the trainer's eager loop does).
  Result step(const std::vector<TrainBatch>& micro);

  int64_t replays() const { return replays_; }    // graph launches so far
  int64_t captures() const { return captures_; }  // graphs captured so far

 private:
  void micro_step(float scale);  // staged_loss + backward, keeping the loss parts
  void update();                 // norm and clip, AdamW, zero_grad: device work only
  CausalLM& model_;
  AdamW* adamw_;
  double clip_;
  Device device_;
  ops::MultiTensorPlan grads_plan_;
  Tensor norm_;  // f64 [2] on the device: the norm and the clip coefficient
  StagedBatch staged_;
  Tensor parts_;  // the last micro-batch's loss parts (graph memory once captured)
  std::unique_ptr<CudaGraph> micro_graph_, update_graph_;
  float micro_scale_ = 0.0f;  // the scale the micro graph was captured with
  bool warm_ = false;
  int64_t replays_ = 0, captures_ = 0;
};

}  // namespace khub
