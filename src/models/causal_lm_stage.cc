// Staging a training batch (models/training.h, StagedBatch; docs/design.md §10): loss()'s host
// half — the checks, the packing into one row list, the uploads of ids, targets, sequences and
// rope tables — apart from its device half (causal_lm_train.cc), so that a captured step
// (train/step_graph.h) replays the device half with the next batch copied into the same buffers;
// and what can keep a step from being captured.
#include <algorithm>

#include "models/causal_lm.h"
#include "models/train_tape.h"
#include "ops/rotary.h"

namespace khub {

Loss CausalLM::loss(const TrainBatch& batch, bool grad) {
  StagedBatch staged = stage(batch);
  return staged_loss(staged, grad);
}

std::shared_ptr<TrainTape> CausalLM::prepare_tape(const TrainBatch& batch, bool upload) const {
  const ModelConfig& c = config_;
  KHUB_CHECK_ARG(!batch.input_ids.empty(), "CausalLM::loss: the batch has no rows");
  KHUB_CHECK_ARG(batch.labels.empty() || batch.labels.size() == batch.input_ids.size(),
                 "CausalLM::loss: ", batch.labels.size(), " label rows for ",
                 batch.input_ids.size(), " input rows");
  auto tape = std::make_shared<TrainTape>();
  TrainTape& tp = *tape;
  tp.rows = static_cast<int64_t>(batch.input_ids.size());
  std::vector<int32_t> seqs_packed;
  for (int64_t b = 0; b < tp.rows; ++b) {
    const std::vector<int32_t>& row = batch.input_ids[b];
    int64_t n = static_cast<int64_t>(row.size());
    KHUB_CHECK_ARG(n >= 2, "CausalLM::loss: row ", b, " has ", n, " tokens; a row needs at least ",
                   "2 (one to predict from, one to predict)");
    const std::vector<int32_t>* labels = batch.labels.empty() ? &row : &batch.labels[b];
    KHUB_CHECK_ARG(static_cast<int64_t>(labels->size()) == n, "CausalLM::loss: row ", b, " has ", n,
                   " tokens and ", labels->size(), " labels");
    int64_t start = static_cast<int64_t>(tp.ids.size());
    for (int64_t i = 0; i < n; ++i) {
      KHUB_CHECK_ARG(row[i] >= 0 && row[i] < c.vocab_size, "CausalLM::loss: token id ", row[i],
                     " (row ", b, ", position ", i, ") is outside the vocabulary [0, ",
                     c.vocab_size, ")");
    }
    for (int64_t i = 0; i < n; ++i) {
      int32_t target = i + 1 < n ? (*labels)[i + 1] : -100;
      KHUB_CHECK_ARG(target == -100 || (target >= 0 && target < c.vocab_size),
                     "CausalLM::loss: label ", target, " (row ", b, ", position ", i + 1,
                     ") is neither -100 nor inside the vocabulary [0, ", c.vocab_size, ")");
      tp.ids.push_back(row[i]);
      tp.targets.push_back(target);
      tp.positions.push_back(i);
      if (target != -100) ++tp.scored;
    }
    tp.batch.host.push_back({b, start, n, n});
    for (int64_t v : {b, start, n, n}) seqs_packed.push_back(static_cast<int32_t>(v));
    tp.max_len = std::max(tp.max_len, n);
  }
  KHUB_CHECK_ARG(tp.scored > 0, "CausalLM::loss: every label of the batch is -100 (nothing to ",
                 "score)");
  tp.batch.max_q_len = tp.batch.max_kv_len = tp.max_len;
  if (!upload) return tape;
  int64_t t = static_cast<int64_t>(tp.ids.size());
  tp.batch.seqs = Tensor::from_vector(seqs_packed, {tp.rows, 4}, DType::kI32).to(device_);
  tp.ids_dev = Tensor::from_vector(tp.ids, {t}, DType::kI32).to(device_);
  tp.targets_dev = Tensor::from_vector(tp.targets, {t}, DType::kI32).to(device_);
  ops::rope_tables(c.rope, tp.positions, tp.max_len, &tp.cos_g, &tp.sin_g);
  tp.cos_g = tp.cos_g.to(device_);
  tp.sin_g = tp.sin_g.to(device_);
  if (has_local_layers_) {
    ops::rope_tables(c.rope_local, tp.positions, tp.max_len, &tp.cos_l, &tp.sin_l);
    tp.cos_l = tp.cos_l.to(device_);
    tp.sin_l = tp.sin_l.to(device_);
  }
  return tape;
}

StagedBatch CausalLM::stage(const TrainBatch& batch) {
  check_trainable();
  StagedBatch s;
  s.tape_ = prepare_tape(batch, true);
  return s;
}

std::string CausalLM::restage(StagedBatch& staged, const TrainBatch& batch) {
  KHUB_CHECK_ARG(staged.defined(), "CausalLM::restage: nothing staged yet");
  std::shared_ptr<TrainTape> fresh = prepare_tape(batch, false);
  TrainTape& tp = *staged.tape_;
  auto layout = [](const TrainTape& t) {
    std::string s = std::to_string(t.rows) + " rows of";
    for (const ops::AttentionSeq& q : t.batch.host) s += " " + std::to_string(q.q_len);
    return s + " tokens, " + std::to_string(t.scored) + " scored";
  };
  if (fresh->rows != tp.rows || fresh->scored != tp.scored || fresh->ids.size() != tp.ids.size() ||
      !std::equal(fresh->batch.host.begin(), fresh->batch.host.end(), tp.batch.host.begin(),
                  [](const ops::AttentionSeq& a, const ops::AttentionSeq& b) {
                    return a.q_start == b.q_start && a.q_len == b.q_len;
                  })) {
    return "the batch's layout (" + layout(*fresh) + ") is not the staged one's (" + layout(tp) +
           ")";
  }
  const int64_t t = static_cast<int64_t>(fresh->ids.size());
  tp.ids_dev.copy_from(Tensor::from_vector(fresh->ids, {t}, DType::kI32));
  tp.targets_dev.copy_from(Tensor::from_vector(fresh->targets, {t}, DType::kI32));
  tp.ids = std::move(fresh->ids);
  tp.targets = std::move(fresh->targets);
  return "";
}

int64_t StagedBatch::tokens() const { return static_cast<int64_t>(tape_->ids.size()); }
int64_t StagedBatch::scored() const { return tape_->scored; }

double Loss::item() const {
  if (!value_) {
    KHUB_CHECK_ARG(parts_.defined(), "Loss::item: this loss was never computed");
    value_ = LinearCrossEntropyLayer::sum_parts(parts_) / static_cast<double>(tokens_);
  }
  return *value_;
}

std::string CausalLM::train_capture_blocker() const {
  if (!device_.is_cuda()) {
    return "steps are captured on CUDA only (the model is on " + device_.str() + ")";
  }
  if (!kernelizer_ || !mode_has(report_.mode, Mode::kCompile) ||
      !mode_has(report_.mode, Mode::kTraining)) {
    return "the model's kernels were not chosen in mode training|compile (load it with "
           "--use-kernels --mode training,compile)";
  }
  if (!lm_loss_->kernelized()) {
    return "LinearCrossEntropy runs the reference path, which reads each chunk's loss back on the "
           "host (map it to a kernel whose layer can be captured: "
           "khub-community/linear-cross-entropy)";
  }
  for (const DecoderLayer& L : layers_) {
    if (L.moe) return "mixture-of-experts layers read their routes on the host";
  }
  return "";
}

}  // namespace khub
