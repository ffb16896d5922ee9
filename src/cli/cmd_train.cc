// khub train --model DIR (--data FILE | --data-ids "1,2,3;4,5,6") --out DIR [--steps N]
// [--batch B] [--seq-len T] [--lr X] [--optimizer adamw|sgd] [--betas a,b] [--eps e]
// [--weight-decay w] [--momentum m] [--schedule constant|cosine] [--warmup N] [--clip X]
// [--grad-accum N] [--seed S] [--device cpu] [--dtype f32] [--use-kernels] [--kernel-config F]
// [--strict] [--checkpoint-activations] [--save-every N] [--resume DIR]
// [--eval-data FILE --eval-every N] [--json]
//
// Trains with train/trainer.h. --json: one JSON object per step on stdout ({"step", "loss",
// "grad_norm", "lr", "tokens_per_s"}; evaluations {"step", "eval_loss"}; saves {"step", "saved"});
// otherwise a progress line on stderr. --out is an HF checkpoint (plus optimizer state) that
// `khub generate`, transformers and --resume read.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/train_common.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace khub::cli {
namespace {

std::pair<double, double> parse_betas(const std::string& text) {
  auto comma = text.find(',');
  KHUB_CHECK_ARG(comma != std::string::npos, "--betas '", text, "': expected two numbers 'a,b'");
  try {
    return {std::stod(text.substr(0, comma)), std::stod(text.substr(comma + 1))};
  } catch (const std::exception&) {
    fail(ErrorKind::kInvalidArgument, "--betas '", text, "': expected two numbers 'a,b'");
  }
}

std::string eta(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args(argc, argv, {"use-kernels", "strict", "json", "checkpoint-activations"});
  args.reject_unknown({"model",
                       "data",
                       "data-ids",
                       "out",
                       "steps",
                       "batch",
                       "seq-len",
                       "lr",
                       "optimizer",
                       "betas",
                       "eps",
                       "weight-decay",
                       "momentum",
                       "schedule",
                       "warmup",
                       "clip",
                       "grad-accum",
                       "seed",
                       "device",
                       "dtype",
                       "use-kernels",
                       "kernel-config",
                       "attn-implementation",
                       "mode",
                       "strict",
                       "checkpoint-activations",
                       "save-every",
                       "resume",
                       "eval-data",
                       "eval-every",
                       "json"});
  KHUB_CHECK_ARG(args.has("data") != args.has("data-ids"),
                 "train: give exactly one of --data FILE and --data-ids \"1,2,3;4,5,6\"");
  KHUB_CHECK_ARG(args.has("model") || args.has("resume"), "train: --model DIR is required");
  TrainOptions o;
  o.resume_dir = args.get_or("resume", "");
  if (!o.resume_dir.empty()) recover_checkpoint_dir(o.resume_dir);
  o.model_dir = args.has("model") ? args.get("model") : o.resume_dir.string();
  o.out_dir = args.get("out");
  recover_checkpoint_dir(o.out_dir);
  o.steps = args.get_int_or("steps", 100);
  o.grad_accum = args.get_int_or("grad-accum", 1);
  o.clip = args.get_double_or("clip", 0.0);
  o.save_every = args.get_int_or("save-every", 0);
  o.eval_every = args.get_int_or("eval-every", 0);
  std::string opt = args.get_or("optimizer", "adamw");
  double lr = args.get_double_or("lr", 1e-4);
  if (opt == "adamw") {
    auto [b1, b2] = parse_betas(args.get_or("betas", "0.9,0.999"));
    o.optimizer = {{"type", "adamw"},
                   {"beta1", b1},
                   {"beta2", b2},
                   {"eps", args.get_double_or("eps", 1e-8)},
                   {"weight_decay", args.get_double_or("weight-decay", 0.01)}};
  } else if (opt == "sgd") {
    KHUB_CHECK_ARG(!args.has("betas") && !args.has("eps"),
                   "train: --betas and --eps are AdamW's; --optimizer sgd takes --momentum");
    o.optimizer = {{"type", "sgd"},
                   {"momentum", args.get_double_or("momentum", 0.0)},
                   {"weight_decay", args.get_double_or("weight-decay", 0.0)}};
  } else {
    fail(ErrorKind::kInvalidArgument, "train: --optimizer '", opt, "' is not adamw or sgd");
  }
  o.schedule.kind = parse_lr_schedule_kind(args.get_or("schedule", "constant"));
  o.schedule.base_lr = lr;
  o.schedule.warmup_steps = args.get_int_or("warmup", 0);
  o.schedule.total_steps = o.steps;

  // The weights: the resumed checkpoint's (its master copies are restored by the trainer).
  auto model = load_model_for_training(
      args, o.resume_dir.empty() ? o.model_dir.string() : o.resume_dir.string());
  DataModelInfo info = DataModelInfo::from_model_dir(o.model_dir);
  int64_t default_len =
      info.max_position_embeddings > 0 ? std::min<int64_t>(128, info.max_position_embeddings) : 128;
  int64_t seq_len = args.get_int_or("seq-len", default_len);
  TokenRows rows;
  int64_t batch = args.get_int_or("batch", 1);
  bool fixed = args.has("data-ids");
  if (fixed) {
    rows = parse_token_rows(args.get("data-ids"), info);
    batch = static_cast<int64_t>(rows.size());  // one fixed batch, every step
  } else {
    rows = load_token_rows(args.get("data"), seq_len, info);
  }
  KHUB_CHECK_ARG(batch >= 1, "train: --batch ", batch, " must be at least 1");
  TokenRows eval_rows;
  if (args.has("eval-data")) eval_rows = load_token_rows(args.get("eval-data"), seq_len, info);
  DataLoader loader(std::move(rows), batch, static_cast<uint64_t>(args.get_int_or("seed", 0)),
                    !fixed);
  Trainer trainer(*model, loader, eval_rows.empty() ? nullptr : &eval_rows, o);

  bool json = args.has("json");
  bool tty = isatty(fileno(stderr));
  int64_t first = trainer.step();
  auto start = std::chrono::steady_clock::now();
  auto on_event = [&](const TrainEvent& e) {
    if (json) {
      nlohmann::json j;
      if (e.kind == TrainEvent::Kind::kStep) {
        j = {{"step", e.step},
             {"loss", e.loss},
             {"grad_norm", e.grad_norm},
             {"lr", e.lr},
             {"tokens_per_s", e.tokens_per_s}};
      } else if (e.kind == TrainEvent::Kind::kEval) {
        j = {{"step", e.step}, {"eval_loss", e.loss}};
      } else {
        j = {{"step", e.step}, {"saved", e.path}};
      }
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
      return;
    }
    if (e.kind == TrainEvent::Kind::kStep) {
      double done = static_cast<double>(e.step - first);
      double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double left = done > 0 ? elapsed / done * static_cast<double>(o.steps - e.step) : 0.0;
      std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  |g| %.3g  lr %.3g  %.0f tok/s  ETA %s%s",
                   tty ? "\r" : "", static_cast<long long>(e.step), static_cast<long long>(o.steps),
                   e.loss, e.grad_norm, e.lr, e.tokens_per_s, eta(left).c_str(),
                   tty ? "   " : "\n");
    } else if (e.kind == TrainEvent::Kind::kEval) {
      std::fprintf(stderr, "%sstep %lld  eval loss %.4f\n", tty ? "\n" : "",
                   static_cast<long long>(e.step), e.loss);
    } else {
      std::fprintf(stderr, "%ssaved step %lld to %s\n", tty ? "\n" : "",
                   static_cast<long long>(e.step), e.path.c_str());
    }
  };
  int64_t reached = trainer.run(on_event);
  if (reached < o.steps) {
    std::fprintf(stderr,
                 "train: interrupted after step %lld; checkpoint in %s (resume with "
                 "--resume %s)\n",
                 static_cast<long long>(reached), o.out_dir.c_str(), o.out_dir.c_str());
    return 130;
  }
  return 0;
}

}  // namespace khub::cli
