#include "train/step_graph.h"

#include <cmath>

#include "core/error.h"
#include "core/logging.h"

namespace khub {
StepGraph::StepGraph(CausalLM& model, Optimizer& optimizer, double clip)
    : model_(model), adamw_(dynamic_cast<AdamW*>(&optimizer)), clip_(clip) {
  if (std::string why = model.train_capture_blocker(); !why.empty()) {
    fail(ErrorKind::kUnsupported, "train: the step cannot be captured into a CUDA graph (mode ",
         "training|compile): ", why);
  }
  if (adamw_ == nullptr) {
    fail(ErrorKind::kUnsupported, "train: a captured step (mode training|compile) updates with ",
         "adamw only; the optimizer is ", optimizer.name());
  }
  KHUB_CHECK_ARG(clip >= 0 && std::isfinite(clip), "train: clip ", clip, " must be finite, >= 0");
  std::vector<Tensor> grads;
  for (const Parameter& p : model.parameters()) grads.push_back(p.grad);
  device_ = grads.front().device();
  grads_plan_ = ops::plan_grads(grads);
  norm_ = Tensor::empty({2}, DType::kF64, device_);
}

StepGraph::~StepGraph() = default;

void StepGraph::micro_step(float scale) {
  Loss l = model_.staged_loss(staged_);
  l.backward(scale);
  parts_ = l.parts();
}

void StepGraph::update() {
  ops::global_norm_and_clip_planned(grads_plan_, clip_, norm_);
  adamw_->captured_step();
  model_.zero_grad();
}

StepGraph::Result StepGraph::step(const std::vector<TrainBatch>& micro) {
  KHUB_CHECK_ARG(!micro.empty(), "StepGraph::step: no micro-batches");
  const float scale = 1.0f / static_cast<float>(micro.size());
  Result r;
  double loss_sum = 0.0;
  for (const TrainBatch& b : micro) {
    if (!staged_.defined()) {
      staged_ = model_.stage(b);
    } else if (std::string why = model_.restage(staged_, b); !why.empty()) {
      // Another layout: its own buffers and a new capture (the old graph reads the old ones).
      log_info("train: ", why, "; capturing the step again");
      parts_ = Tensor();
      staged_ = StagedBatch();
      micro_graph_.reset();
      staged_ = model_.stage(b);
    }
    if (!warm_) {
      micro_step(scale);
    } else {
      if (!micro_graph_ || micro_scale_ != scale) {
        micro_graph_ = CudaGraph::capture(device_, [&] { micro_step(scale); });
        micro_scale_ = scale;
        ++captures_;
      }
      micro_graph_->replay();
      ++replays_;
    }
    // The losses of this micro-batch before the next replay rewrites them (one read).
    loss_sum += LinearCrossEntropyLayer::sum_parts(parts_) / static_cast<double>(staged_.scored());
    r.scored += staged_.scored();
  }
  adamw_->prepare_captured_step();  // this step's scalars, before the update reads them
  if (!warm_) {
    update();
    warm_ = true;
  } else {
    if (!update_graph_) {
      update_graph_ = CudaGraph::capture(device_, [&] { update(); });
      ++captures_;
    }
    update_graph_->replay();
    ++replays_;
  }
  r.loss = loss_sum / static_cast<double>(micro.size());
  r.grad_norm = norm_.to(Device::cpu()).data_as<double>()[0];
  return r;
}

}  // namespace khub
