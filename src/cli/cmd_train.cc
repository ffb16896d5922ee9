// khub train --model DIR (--data FILE | --data-ids "1,2,3;4,5,6") --out DIR [--steps N]
// [--batch B] [--seq-len T] [--lr X] [--optimizer adamw|sgd] [--betas a,b] [--eps e]
// [--weight-decay w] [--momentum m] [--schedule constant|cosine] [--warmup N] [--clip X]
// [--grad-accum N] [--seed S] [--no-shuffle] [--device cpu] [--dtype f32] [--use-kernels]
// [--kernel-config F]
// [--strict] [--checkpoint-activations] [--save-every N] [--resume DIR]
// [--eval-data FILE --eval-every N] [--json]
//
// Trains with train/trainer.h. --json: one JSON object per step on stdout ({"step", "loss",
// "grad_norm", "lr", "tokens_per_s"}; evaluations {"step", "eval_loss"}; saves {"step", "saved"});
// otherwise a progress line on stderr when it is a terminal (cli/progress.h). --out is an HF
// checkpoint (plus optimizer state) that `khub generate`, transformers and --resume read.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/load_options.h"
#include "cli/progress.h"
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

}  // namespace

int cmd_train(const Args& args) {
  KHUB_CHECK_ARG(args.has("data") != args.has("data-ids"),
                 "train: give exactly one of --data FILE and --data-ids \"1,2,3;4,5,6\"");
  KHUB_CHECK_ARG(args.has("model") || args.has("resume"), "train: --model DIR is required");
  if (args.has("mode") && mode_has(mode_parse(args.get("mode")), Mode::kCompile)) {
    // Compile captures the step into CUDA graphs (train/step_graph.h, which refuses a step it
    // cannot capture, e.g. on the CPU). Without kernels no mode applies at all: say so rather than
    // train eagerly.
    KHUB_CHECK_ARG(args.has("use-kernels") || args.has("kernel-config"), "train: --mode ",
                   args.get("mode"), ": a captured step runs through the hub's kernels (add ",
                   "--use-kernels)");
  }
  TrainOptions o;
  o.resume_dir = args.get_or("resume", "");
  if (!o.resume_dir.empty()) recover_checkpoint_dir(o.resume_dir);
  o.model_dir = args.has("model") ? args.get("model") : o.resume_dir.string();
  o.out_dir = args.get("out");
  recover_checkpoint_dir(o.out_dir);
  o.steps = args.get_int("steps");
  o.grad_accum = args.get_int("grad-accum");
  o.clip = args.get_double("clip");
  o.save_every = args.get_int("save-every");
  o.eval_every = args.get_int("eval-every");
  std::string opt = args.get("optimizer");
  double lr = args.get_double("lr");
  if (opt == "adamw") {
    auto [b1, b2] = parse_betas(args.get("betas"));
    o.optimizer = {{"type", "adamw"},
                   {"beta1", b1},
                   {"beta2", b2},
                   {"eps", args.get_double("eps")},
                   {"weight_decay", args.get_double_or("weight-decay", 0.01)}};
  } else if (opt == "sgd") {
    KHUB_CHECK_ARG(!args.has("betas") && !args.has("eps"),
                   "train: --betas and --eps are AdamW's; --optimizer sgd takes --momentum");
    o.optimizer = {{"type", "sgd"},
                   {"momentum", args.get_double("momentum")},
                   {"weight_decay", args.get_double_or("weight-decay", 0.0)}};
  } else {
    fail(ErrorKind::kInvalidArgument, "train: --optimizer '", opt, "' is not adamw or sgd");
  }
  o.schedule.kind = parse_lr_schedule_kind(args.get("schedule"));
  o.schedule.base_lr = lr;
  o.schedule.warmup_steps = args.get_int("warmup");
  o.schedule.total_steps = o.steps;

  // The weights: the resumed checkpoint's (its master copies are restored by the trainer).
  auto model = load_model_for_training(
      args, o.resume_dir.empty() ? o.model_dir.string() : o.resume_dir.string());
  DataModelInfo info = DataModelInfo::from_model_dir(o.model_dir);
  int64_t default_len =
      info.max_position_embeddings > 0 ? std::min<int64_t>(128, info.max_position_embeddings) : 128;
  int64_t seq_len = args.get_int_or("seq-len", default_len);
  TokenRows rows;
  int64_t batch = args.get_int("batch");
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
  // --data-ids is one fixed batch; --no-shuffle serves --data's rows in the file's order every
  // epoch (give it again with --resume: the position a checkpoint saves holds no order flag).
  const bool shuffle = !fixed && !args.has("no-shuffle");
  DataLoader loader(std::move(rows), batch, static_cast<uint64_t>(args.get_int("seed")), shuffle);
  Trainer trainer(*model, loader, eval_rows.empty() ? nullptr : &eval_rows, o);

  bool json = args.has("json");
  ProgressLine progress(!json && progress_enabled(args));
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
      char line[256];
      std::snprintf(line, sizeof line,
                    "step %lld/%lld  loss %.4f  |g| %.3g  lr %.3g  %.0f tok/s  ETA %s",
                    static_cast<long long>(e.step), static_cast<long long>(o.steps), e.loss,
                    e.grad_norm, e.lr, e.tokens_per_s, format_eta(left).c_str());
      progress.show(line, e.step == o.steps);
    } else if (e.kind == TrainEvent::Kind::kEval) {
      progress.end();
      std::fprintf(stderr, "step %lld  eval loss %.4f\n", static_cast<long long>(e.step), e.loss);
    } else {
      progress.end();
      std::fprintf(stderr, "saved step %lld to %s\n", static_cast<long long>(e.step),
                   e.path.c_str());
    }
  };
  int64_t reached = trainer.run(on_event);
  progress.end();
  if (reached < o.steps) {
    std::fprintf(stderr,
                 "train: interrupted after step %lld; checkpoint in %s (resume with "
                 "--resume %s)\n",
                 static_cast<long long>(reached), o.out_dir.c_str(), o.out_dir.c_str());
    return 130;
  }
  return 0;
}

const CommandSpec& train_spec() {
  static const CommandSpec s{
      .name = "train",
      .summary = "train a model directory on a text or token file; writes a checkpoint",
      .synopsis = "--model DIR (--data FILE | --data-ids IDS) --out DIR [options]",
      .details = "--json: one JSON object per step on stdout; otherwise progress on the terminal.",
      .options = join(
          {opt("model", OptType::kPath, "DIR", "the model directory to start from")
               .default_doc("the --resume checkpoint")
               .eg("models/q"),
           opt("data", OptType::kPath, "FILE",
               ".txt (tokenized, packed) or .jsonl (text/input_ids)")
               .eg("corpus.txt"),
           opt("data-ids", OptType::kList, "IDS", "one fixed batch of token rows, ';' between rows")
               .eg("'1,2,3;4,5,6'"),
           opt("out", OptType::kPath, "DIR", "the checkpoint directory to write")
               .default_doc("required")
               .eg("out/"),
           opt("steps", OptType::kInt, "N", "optimizer steps in all").with_default("100").eg("200"),
           opt("batch", OptType::kInt, "B", "rows per step").with_default("1").eg("4"),
           opt("seq-len", OptType::kInt, "T", "tokens per row")
               .default_doc("128, or the model's max_position_embeddings if smaller")
               .eg("256"),
           opt("lr", OptType::kNumber, "X", "peak learning rate").with_default("1e-4").eg("3e-4"),
           opt("optimizer", OptType::kChoice, "OPT", "the optimizer")
               .with_default("adamw")
               .one_of({"adamw", "sgd"})
               .eg("sgd"),
           opt("betas", OptType::kList, "A,B", "AdamW betas")
               .with_default("0.9,0.999")
               .eg("0.9,0.95"),
           opt("eps", OptType::kNumber, "E", "AdamW epsilon").with_default("1e-8").eg("1e-6"),
           opt("weight-decay", OptType::kNumber, "W", "decoupled weight decay")
               .default_doc("0.01 for adamw, 0 for sgd")
               .eg("0.1"),
           opt("momentum", OptType::kNumber, "M", "SGD momentum").with_default("0.0").eg("0.9"),
           opt("schedule", OptType::kChoice, "S", "learning-rate schedule after warm-up")
               .with_default("constant")
               .one_of({"constant", "cosine"})
               .eg("cosine"),
           opt("warmup", OptType::kInt, "N", "linear warm-up steps").with_default("0").eg("20"),
           opt("clip", OptType::kNumber, "X", "clip the global gradient norm (0: off)")
               .with_default("0.0")
               .eg("1.0"),
           opt("grad-accum", OptType::kInt, "N", "micro-batches per step")
               .with_default("1")
               .eg("2"),
           opt("seed", OptType::kInt, "S", "data order seed").with_default("0").eg("42"),
           flag("no-shuffle", "serve the rows in the file's order every epoch"),
           flag("checkpoint-activations", "recompute activations in the backward"),
           opt("save-every", OptType::kInt, "N", "save a checkpoint every N steps (0: at the end)")
               .with_default("0")
               .eg("50"),
           opt("resume", OptType::kPath, "DIR", "continue bit-identically from a checkpoint")
               .eg("out/"),
           opt("eval-data", OptType::kPath, "FILE", "held-out data for --eval-every")
               .eg("eval.txt"),
           opt("eval-every", OptType::kInt, "N", "evaluate every N steps (0: never)")
               .with_default("0")
               .eg("25"),
           flag("json", "one JSON object per step on stdout")},
          load_option_specs()),
      .run = cmd_train};
  return s;
}

}  // namespace khub::cli
