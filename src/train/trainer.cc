#include "train/trainer.h"

#include <chrono>
#include <cmath>

#include "core/error.h"
#include "train/checkpoint.h"
#include "train/grad_clip.h"
#include "train/interrupt.h"
#include "train/optimizer.h"

namespace khub {

Trainer::Trainer(CausalLM& model, DataLoader& train_data, const TokenRows* eval_rows,
                 TrainOptions options)
    : model_(model), data_(train_data), eval_rows_(eval_rows), o_(std::move(options)) {
  KHUB_CHECK_ARG(o_.steps >= 1, "train: --steps ", o_.steps, " must be at least 1");
  KHUB_CHECK_ARG(o_.grad_accum >= 1, "train: --grad-accum ", o_.grad_accum, " must be at least 1");
  KHUB_CHECK_ARG(o_.clip >= 0 && std::isfinite(o_.clip), "train: --clip ", o_.clip,
                 " must be a finite value >= 0 (0 = no clipping)");
  KHUB_CHECK_ARG(o_.eval_every == 0 || (eval_rows_ && !eval_rows_->empty()),
                 "train: --eval-every needs --eval-data");
  o_.schedule.total_steps = o_.schedule.total_steps > 0 ? o_.schedule.total_steps : o_.steps;
  o_.schedule.validate();
  nlohmann::json opt = o_.optimizer;
  opt["lr"] = o_.schedule.base_lr;
  optimizer_ = make_optimizer(opt, model_.parameters());
  if (!o_.resume_dir.empty()) {
    nlohmann::json st;
    load_checkpoint(o_.resume_dir, model_.parameters(), *optimizer_, st);
    KHUB_CHECK_ARG(st.contains("step") && st["step"].is_number_integer() && st.contains("data"),
                   o_.resume_dir.string(), "/trainer_state.json: no step or data position");
    step_ = st["step"].get<int64_t>();
    data_.set_position(DataPosition::from_json(st["data"]));
  }
  model_.zero_grad();
  if (model_.trains_with_graphs())
    graph_ = std::make_unique<StepGraph>(model_, *optimizer_, o_.clip);
}

nlohmann::json Trainer::state() const {
  return {{"step", step_},
          {"data", data_.position().to_json()},
          {"schedule", o_.schedule.to_json()},
          {"grad_accum", o_.grad_accum},
          {"clip", o_.clip},
          {"batch_size", data_.batch_size()}};
}

void Trainer::save(const std::function<void(const TrainEvent&)>& on_event) {
  // The first save reads the source model's files; later ones may read the previous output.
  save_checkpoint(o_.out_dir, o_.resume_dir.empty() ? o_.model_dir : o_.resume_dir,
                  model_.parameters(), *optimizer_, state());
  TrainEvent e;
  e.kind = TrainEvent::Kind::kSave;
  e.step = step_;
  e.path = o_.out_dir.string();
  on_event(e);
}

double Trainer::evaluate(const TokenRows& rows) {
  double sum = 0.0;
  int64_t tokens = 0;
  int64_t b = data_.batch_size();
  for (size_t r0 = 0; r0 < rows.size(); r0 += b) {
    TrainBatch batch;
    for (size_t r = r0; r < rows.size() && r < r0 + static_cast<size_t>(b); ++r) {
      batch.input_ids.push_back(rows[r]);
    }
    Loss l = model_.loss(batch, false);
    sum += l.item() * static_cast<double>(l.tokens());
    tokens += l.tokens();
  }
  return sum / static_cast<double>(tokens);
}

int64_t Trainer::run(const std::function<void(const TrainEvent&)>& on_event) {
  InterruptGuard guard;
  std::vector<Parameter>& params = model_.parameters();
  bool saved_last = true;
  while (step_ < o_.steps) {
    auto t0 = std::chrono::steady_clock::now();
    double lr = o_.schedule.lr_at(step_);  // k = updates done before this one
    optimizer_->set_lr(lr);
    double loss_sum = 0.0, norm = 0.0;
    int64_t tokens = 0, scored = 0;
    std::vector<TrainBatch> micro_batches;
    for (int64_t micro = 0; micro < o_.grad_accum; ++micro) {
      TrainBatch batch = data_.next();
      for (const auto& row : batch.input_ids) tokens += static_cast<int64_t>(row.size());
      if (graph_) {
        micro_batches.push_back(std::move(batch));
        continue;
      }
      Loss loss = model_.loss(batch);
      loss_sum += loss.item();
      scored += loss.tokens();
      loss.backward(1.0f / static_cast<float>(o_.grad_accum));
    }
    StepGraph::Result captured;
    if (graph_) {
      // Loss, backward, clipping and the update in replays; the checks below come after it.
      captured = graph_->step(micro_batches);
      loss_sum = captured.loss * static_cast<double>(o_.grad_accum);
      scored = captured.scored;
    }
    double loss = loss_sum / static_cast<double>(o_.grad_accum);
    int64_t step = step_ + 1;
    if (!std::isfinite(loss)) {
      fail(ErrorKind::kInvalidArgument, "train: step ", step, " has a non-finite loss (", loss,
           "); stopping — the last good checkpoint (if any) stays in ", o_.out_dir.string());
    }
    if (graph_ ? !std::isfinite(captured.grad_norm) : !grads_finite(params)) {
      fail(ErrorKind::kInvalidArgument, "train: step ", step, " has a non-finite gradient ",
           "(loss ", loss, "); stopping — the last good checkpoint (if any) stays in ",
           o_.out_dir.string());
    }
    if (graph_) {
      norm = captured.grad_norm;
    } else {
      norm = o_.clip > 0 ? clip_grad_norm(params, o_.clip) : grad_norm(params);
      optimizer_->step();
      model_.zero_grad();
    }
    step_ = step;
    saved_last = false;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    TrainEvent e;
    e.step = step_;
    e.loss = loss;
    e.grad_norm = norm;
    e.lr = lr;
    e.tokens = scored;
    e.tokens_per_s = secs > 0 ? static_cast<double>(tokens) / secs : 0.0;
    on_event(e);
    if (o_.eval_every > 0 && step_ % o_.eval_every == 0) {
      TrainEvent ev;
      ev.kind = TrainEvent::Kind::kEval;
      ev.step = step_;
      ev.loss = evaluate(*eval_rows_);
      on_event(ev);
    }
    if (InterruptGuard::requested()) break;
    if (o_.save_every > 0 && step_ % o_.save_every == 0) {
      save(on_event);
      saved_last = true;
    }
  }
  if (!saved_last) save(on_event);
  return step_;
}

}  // namespace khub
