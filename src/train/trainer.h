// The training loop behind `khub train` (docs/design.md §10): data → micro-batches → loss and
// backward (accumulated over grad_accum micro-batches) → global-norm clipping → an optimizer step
// at the scheduled learning rate, with periodic evaluation and atomic checkpoints, resumable
// bit-identically on the CPU. A non-finite loss or gradient stops the run with an error naming the
// step; the last good checkpoint stays on disk. SIGINT/SIGTERM stop it after the current step
// with a checkpoint of the steps done. A model whose kernels were chosen in mode training|compile
// on CUDA trains through captured steps (train/step_graph.h), with the same figures per step.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/causal_lm.h"
#include "train/data.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train/step_graph.h"

namespace khub {

struct TrainOptions {
  std::filesystem::path model_dir;  // the checkpoint the weights came from (names, dtypes, files)
  std::filesystem::path out_dir;
  std::filesystem::path resume_dir;  // empty: a fresh run
  int64_t steps = 100;               // optimizer steps in total (a resumed run continues to it)
  int64_t grad_accum = 1;
  double clip = 0.0;  // max global gradient norm; 0 = no clipping (the norm is still reported)
  nlohmann::json optimizer = {{"type", "adamw"}};  // make_optimizer's config (lr is the base)
  LrSchedule schedule;
  int64_t save_every = 0;  // 0: save at the end only
  int64_t eval_every = 0;  // 0: never (needs eval rows)
};

// One line of the run's log: a step's figures, or an evaluation.
struct TrainEvent {
  enum class Kind { kStep, kEval, kSave } kind = Kind::kStep;
  int64_t step = 0;
  double loss = 0.0;  // the step's mean loss before its update, or the eval loss
  double grad_norm = 0.0;
  double lr = 0.0;
  double tokens_per_s = 0.0;
  int64_t tokens = 0;  // tokens scored in the step
  std::string path;    // kSave: where
};

class Trainer {
 public:
  // model: loaded for training (train(), parameters()); train_data and eval_data feed it.
  Trainer(CausalLM& model, DataLoader& train_data, const TokenRows* eval_rows,
          TrainOptions options);
  // Runs to options.steps, calling on_event after every step, evaluation and save. Returns the
  // step reached (less than steps when interrupted).
  int64_t run(const std::function<void(const TrainEvent&)>& on_event);
  // The mean loss over rows (batches of the train loader's size, no gradients).
  double evaluate(const TokenRows& rows);
  int64_t step() const { return step_; }

 private:
  void save(const std::function<void(const TrainEvent&)>& on_event);
  nlohmann::json state() const;

  CausalLM& model_;
  DataLoader& data_;
  const TokenRows* eval_rows_;
  TrainOptions o_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<StepGraph> graph_;  // mode training|compile on CUDA: captured steps
  int64_t step_ = 0;
};

}  // namespace khub
