// khub bench train: training throughput of a model khub creates itself (default: the embedded
// default, qwen3 small) on the CPU or CUDA reference path (f32), with the arithmetic bound beside
// it and, on CUDA, the peak device memory of a step.
//   khub bench train [--arch qwen3] [--preset small] [--batches 1,4] [--seq-len 128]
//                    [--steps 3] [--models-dir build/models] [--checkpoint-activations]
//                    [--device cpu|cuda] [--dtype f32|bf16] [--use-kernels]
//                    [--kernel-config FILE.json] [--compile] [--out FILE]
// --compile (CUDA, with the kernels) chooses them in mode training|compile and times steps
// captured into CUDA graphs (train/step_graph.h), as `khub train --mode training,compile` runs.
// --kernel-config is the A/B of one kernel: {"kernel_mapping": {"Attention": ""}} with
// --use-kernels trains everything but attention through the hub's kernels.
// One step is what `khub train` does per step: forward with the loss, backward, AdamW update,
// zero_grad. The first step is a warm-up (it allocates the optimizer state); the median of the
// next --steps is reported, and one more step, synchronised between forward (with the loss),
// backward and update, says where the time goes (not with --compile: a replay is one launch).
// The bound: the step's floating-point work (6 flops per parameter of every matmul per token —
// forward 2, backward 4 — plus the causal attention's score and value products) divided by the
// GEMM rate in the step's dtype (ops::linear: OpenBLAS sgemm, or cuBLAS without TF32) measured in
// the same run at the step's own MLP shape.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <vector>

#include "cli/args.h"
#include "cli/bench_report.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "core/cuda.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "train/optimizer.h"
#include "train/step_graph.h"

namespace khub::cli {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Flops of one training step per token: 6 per weight of every matmul a token goes through (q, k,
// v, o, gate, up, down — of the experts it is routed to in MoE layers — LM head), and the causal
// attention's QKᵀ and AV (2·2·(T/2)·head_dim per head forward, three times that with the backward).
double train_flops_per_token(const ModelConfig& c, int64_t seq_len) {
  const double d = c.hidden_size, hd = c.head_dim, h = c.num_attention_heads,
               kv = c.num_key_value_heads, ff = c.intermediate_size;
  const double attention_weights = d * hd * (h + 2 * kv) + hd * h * d;
  double matmul_weights = c.vocab_size * d;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    // A mixture-of-experts layer multiplies by its router and the top_k experts a token visits.
    const double mlp = c.layer_is_moe(i)
                           ? c.moe.num_experts * d + c.moe.top_k * 3 * d * c.moe.intermediate_size
                           : 3 * d * ff;
    matmul_weights += attention_weights + mlp;
  }
  const double attention = c.num_hidden_layers * 3 * (2 * 2 * (seq_len / 2.0) * hd * h);
  return 6 * matmul_weights + attention;
}

// GFLOP/s of the reference path's GEMM in the step's dtype (ops::linear: OpenBLAS sgemm, cuBLAS)
// at [m, k] · [n, k]ᵀ:
// the median of a few runs after a warm-up.
double sgemm_gflops(int64_t m, int64_t k, int64_t n, Device device, DType dtype) {
  Tensor x = ops::cast(Tensor::full({m, k}, 0.5, DType::kF32).to(device), dtype);
  Tensor w = ops::cast(Tensor::full({n, k}, 0.25, DType::kF32).to(device), dtype);
  std::vector<double> times;
  for (int r = 0; r < 6; ++r) {
    if (device.is_cuda()) cuda_synchronize(device);
    double t0 = now_s();
    Tensor y = ops::linear(x, w);
    if (device.is_cuda()) cuda_synchronize(device);
    if (r > 0) times.push_back(now_s() - t0);
  }
  return 2.0 * m * k * n / median(times) / 1e9;
}

int bench_train(const Args& args) {
  const Device device = Device::parse(args.get("device"));
  const std::string dtype = args.get("dtype");
  KHUB_CHECK_ARG(dtype == "f32" || (device.is_cuda() && (dtype == "bf16" || dtype == "f16")),
                 "--dtype ", dtype, ": expected f32 (or bf16/f16 over f32 masters on CUDA)");
  DType gemm_dtype = DType::kF32;
  dtype_parse(dtype, &gemm_dtype);
  std::string arch = args.get("arch"), preset = args.get("preset");
  int64_t seq_len = args.get_int("seq-len"), steps = args.get_int("steps");
  KHUB_CHECK_ARG(seq_len >= 2, "--seq-len ", seq_len, ": expected at least 2 tokens");
  KHUB_CHECK_ARG(steps >= 1, "--steps ", steps, ": expected at least 1");
  std::string dir = args.get("models-dir") + "/" + arch + "-" + preset;
  if (!std::filesystem::exists(dir + "/config.json"))
    write_random_checkpoint(InitModelOptions{.arch = arch, .preset = preset}, dir);

  nlohmann::json report = bench_environment();
  std::optional<KernelConfig> kernel_config;
  if (args.has("kernel-config")) {
    kernel_config = KernelConfig::from_file(args.get("kernel-config"));
    report["kernel_config"] = args.get("kernel-config");
  }
  const bool compile = args.has("compile");
  const bool use_kernels = args.has("use-kernels") || kernel_config.has_value() || compile;
  KHUB_CHECK_ARG(!compile || device.is_cuda(), "--compile: steps are captured on CUDA only (got ",
                 "--device ", device.str(), ")");
  report["benchmark"] = device.str() + " training step (forward + loss, backward, AdamW), " +
                        dtype +
                        (use_kernels ? " with the hub's training kernels" : " reference path");
  report["dtype"] = dtype;
  report["use_kernels"] = use_kernels;
  report["device"] = device.str();
  if (device.is_cuda()) report["gpu"] = cuda_device_properties(device.index).name;
  report["arch"] = arch;
  report["preset"] = preset;
  report["seq_len"] = seq_len;
  report["timed_steps"] = steps;
  report["checkpoint_activations"] = args.has("checkpoint-activations");
  report["captured_steps"] = compile;
  report["results"] = nlohmann::json::array();
  std::printf("%-6s %8s %10s %12s %12s %10s %10s\n", "batch", "tokens", "tok/s", "bound tok/s",
              "of bound", "s/step", "peak GiB");
  std::fflush(stdout);
  ProgressLine progress(progress_enabled(args));
  for (const std::string& b : split_list(args.get("batches"), ',')) {
    int64_t batch = std::stoll(b);
    KHUB_CHECK_ARG(batch >= 1, "--batches: ", b, " is not a batch size");
    progress.show("bench train: batch " + b + ", " + std::to_string(steps + 1) + " steps", true);
    LoadOptions load;
    load.device = device.str();
    load.dtype = dtype;
    load.use_kernels = use_kernels;
    load.kernel_config = kernel_config;
    if (compile) load.mode = Mode::kTraining | Mode::kCompile;
    auto model = CausalLM::from_pretrained(dir, load);
    const ModelConfig& c = model->config();
    model->train();
    if (use_kernels && !report.contains("kernels")) {
      // Which layer keys train through a kernel (forward and backward), which stay on the
      // reference.
      nlohmann::json k = nlohmann::json::object();
      for (const KeyDecision& d : model->kernel_report().keys)
        k[d.key] = d.kernel ? d.kernel->label() : "reference: " + d.reason;
      report["kernels"] = k;
    }
    model->set_activation_checkpointing(args.has("checkpoint-activations"));
    TrainBatch data;
    for (int64_t s = 0; s < batch; ++s) {
      std::vector<int32_t> row;
      for (int64_t i = 0; i < seq_len; ++i)
        row.push_back(static_cast<int32_t>((s * 131 + i * 7 + 1) % c.vocab_size));
      data.input_ids.push_back(row);
    }
    AdamW opt(model->parameters(), AdamWOptions{.lr = 1e-4});
    std::unique_ptr<StepGraph> graph;
    if (compile) graph = std::make_unique<StepGraph>(*model, opt, 0.0);
    std::vector<double> times;
    double loss = 0;
    if (device.is_cuda()) cuda_reset_peak_memory(device.index);
    // Warm-up steps before the timed ones: one eager; captured, one eager and one that captures.
    const int64_t warm = graph ? 2 : 1;
    for (int64_t s = 0; s < steps + warm; ++s) {
      double t0 = now_s();
      if (graph) {
        loss = graph->step({data}).loss;
        cuda_synchronize(device);
        if (s >= warm) times.push_back(now_s() - t0);
        continue;
      }
      Loss l = model->loss(data);
      l.backward();
      opt.step();
      opt.zero_grad();
      if (device.is_cuda()) cuda_synchronize(device);
      if (s >= warm) times.push_back(now_s() - t0);
      loss = l.item();
    }
    // Where an eager step's time goes: one more step, synchronised between its phases.
    nlohmann::json phases = nlohmann::json::object();
    if (!graph) {
      auto sync = [&] {
        if (device.is_cuda()) cuda_synchronize(device);
        return now_s();
      };
      double t0 = sync();
      Loss l = model->loss(data);
      (void)l.item();
      double t1 = sync();
      l.backward();
      double t2 = sync();
      opt.step();
      opt.zero_grad();
      double t3 = sync();
      phases = {{"forward_s", t1 - t0}, {"backward_s", t2 - t1}, {"update_s", t3 - t2}};
    }
    const double peak =
        device.is_cuda() ? static_cast<double>(cuda_memory_stats(device.index).peak_allocated_bytes)
                         : 0.0;
    const double sec = median(times), tokens = static_cast<double>(batch * seq_len);
    const double flops = train_flops_per_token(c, seq_len);
    const double gflops =
        sgemm_gflops(batch * seq_len, c.hidden_size, c.intermediate_size, device, gemm_dtype);
    const double tps = tokens / sec, bound = gflops * 1e9 / flops;
    progress.clear();
    std::printf("%-6lld %8.0f %10.1f %12.1f %11.0f%% %10.3f %10.2f\n", (long long)batch, tokens,
                tps, bound, 100 * tps / bound, sec, peak / (1 << 30));
    report["results"].push_back({{"batch", batch},
                                 {"tokens_per_step", tokens},
                                 {"parameters", c.num_parameters()},
                                 {"seconds_per_step", sec},
                                 {"tokens_per_s", tps},
                                 {"last_loss", loss},
                                 {"flops_per_token", flops},
                                 {"sgemm_gflops", gflops},
                                 {"bound_tokens_per_s", bound},
                                 {"fraction_of_bound", tps / bound},
                                 {"peak_mem_bytes", peak},
                                 {"graph_replays", graph ? graph->replays() : 0},
                                 {"phases", phases}});
  }
  // Issue 18's top-level figures, of the first batch listed (the peer's come from
  // scripts/cuda/train_report.py, which merges transformers' run beside this one).
  KHUB_CHECK_ARG(!report["results"].empty(), "--batches ", args.get("batches"),
                 ": expected at least one batch size");
  const nlohmann::json first = report["results"].front();
  report["train_tok_s"] = first["tokens_per_s"];
  report["peak_mem_bytes"] = first["peak_mem_bytes"];
  report["mfu"] = first["fraction_of_bound"];
  report["mfu_basis"] = "the step's flops (6 per matmul weight per token + attention) over the " +
                        dtype + " GEMM rate measured in this run at the step's MLP shape";
  write_bench_json(args.get_or("out", default_bench_path(device.is_cuda() ? "cuda-train-" + dtype
                                                                          : "cpu-train")),
                   report);
  return 0;
}

}  // namespace

const CommandSpec& bench_train_spec() {
  static const CommandSpec s{
      .name = "bench train",
      .summary = "training tokens/s of a model khub creates, the GEMM bound, peak memory",
      .synopsis = "[--preset small] [--batches 1,4] [--seq-len 128] [options]",
      .options =
          {opt("arch", OptType::kText, "ARCH", "the architecture")
               .with_default("qwen3")
               .eg("llama"),
           opt("preset", OptType::kText, "P", "the model preset").with_default("small").eg("tiny"),
           opt("batches", OptType::kList, "B[,B]", "batch sizes").with_default("1,4").eg("1,8"),
           opt("seq-len", OptType::kInt, "T", "tokens per row").with_default("128").eg("256"),
           opt("steps", OptType::kInt, "N", "timed steps after a warm-up")
               .with_default("3")
               .eg("5"),
           opt("models-dir", OptType::kPath, "DIR", "where the random-weight models are kept")
               .with_default("build/models")
               .eg("/tmp/models"),
           flag("checkpoint-activations", "recompute activations in the backward"),
           flag("use-kernels", "train through the hub's kernels (forward and backward)"),
           flag("compile", "CUDA: kernels in mode training|compile, steps as CUDA graphs"),
           opt("kernel-config", OptType::kPath, "FILE.json",
               "per-layer kernel choices: {\"kernel_mapping\": {...}} (implies --use-kernels)")
               .eg("no-attention.json"),
           opt("device", OptType::kText, "DEV", "cpu or cuda[:N]").with_default("cpu").eg("cuda"),
           opt("dtype", OptType::kChoice, "DTYPE", "compute dtype (bf16/f16 over f32 masters)")
               .with_default("f32")
               .one_of({"f32", "bf16", "f16"})
               .eg("bf16"),
           opt("out", OptType::kPath, "FILE", "the JSON report")
               .default_doc("bench/results/DATE-DEVICE-train.json")
               .eg("/tmp/train.json")},
      .run = bench_train};
  return s;
}

}  // namespace khub::cli
