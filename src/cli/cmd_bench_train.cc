// khub bench train: training throughput of a model khub creates itself (default: the embedded
// default, qwen3 small) on the CPU or CUDA reference path (f32), with the arithmetic bound beside
// it and, on CUDA, the peak device memory of a step.
//   khub bench train [--arch qwen3] [--preset small] [--batches 1,4] [--seq-len 128]
//                    [--steps 3] [--models-dir build/models] [--checkpoint-activations]
//                    [--device cpu|cuda] [--dtype f32|bf16] [--out FILE]
// One step is what `khub train` does per step: forward with the loss, backward, AdamW update,
// zero_grad. The first step is a warm-up (it allocates the optimizer state); the median of the
// next --steps is reported. The bound: the step's floating-point work (6 flops per parameter of
// every matmul per token — forward 2, backward 4 — plus the causal attention's score and value
// products) divided by the f32 GEMM rate (ops::linear: OpenBLAS sgemm, or cuBLAS without TF32)
// measured in the same run at the step's own MLP shape.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "cli/args.h"
#include "cli/bench_report.h"
#include "cli/commands.h"
#include "core/cuda.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "train/optimizer.h"

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

int bench_train(int argc, char** argv) {
  Args args(argc, argv, {"checkpoint-activations", "use-kernels"});
  args.reject_unknown({"arch", "preset", "batches", "seq-len", "steps", "models-dir",
                       "checkpoint-activations", "use-kernels", "device", "dtype", "out"});
  const Device device = Device::parse(args.get_or("device", "cpu"));
  const std::string dtype = args.get_or("dtype", "f32");
  KHUB_CHECK_ARG(dtype == "f32" || (device.is_cuda() && (dtype == "bf16" || dtype == "f16")),
                 "--dtype ", dtype, ": expected f32 (or bf16/f16 over f32 masters on CUDA)");
  DType gemm_dtype = DType::kF32;
  dtype_parse(dtype, &gemm_dtype);
  std::string arch = args.get_or("arch", "qwen3"), preset = args.get_or("preset", "small");
  int64_t seq_len = args.get_int_or("seq-len", 128), steps = args.get_int_or("steps", 3);
  KHUB_CHECK_ARG(seq_len >= 2, "--seq-len ", seq_len, ": expected at least 2 tokens");
  KHUB_CHECK_ARG(steps >= 1, "--steps ", steps, ": expected at least 1");
  std::string dir = args.get_or("models-dir", "build/models") + "/" + arch + "-" + preset;
  if (!std::filesystem::exists(dir + "/config.json"))
    write_random_checkpoint(InitModelOptions{.arch = arch, .preset = preset}, dir);

  nlohmann::json report = bench_environment();
  const bool use_kernels = args.has("use-kernels");
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
  report["results"] = nlohmann::json::array();
  std::printf("%-6s %8s %10s %12s %12s %10s %10s\n", "batch", "tokens", "tok/s", "bound tok/s",
              "of bound", "s/step", "peak GiB");
  for (const std::string& b : split_list(args.get_or("batches", "1,4"), ',')) {
    int64_t batch = std::stoll(b);
    KHUB_CHECK_ARG(batch >= 1, "--batches: ", b, " is not a batch size");
    LoadOptions load;
    load.device = device.str();
    load.dtype = dtype;
    load.use_kernels = use_kernels;
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
    std::vector<double> times;
    double loss = 0;
    if (device.is_cuda()) cuda_reset_peak_memory(device.index);
    for (int64_t s = 0; s <= steps; ++s) {
      double t0 = now_s();
      Loss l = model->loss(data);
      l.backward();
      opt.step();
      opt.zero_grad();
      if (device.is_cuda()) cuda_synchronize(device);
      if (s > 0) times.push_back(now_s() - t0);
      loss = l.item();
    }
    const double peak =
        device.is_cuda() ? static_cast<double>(cuda_memory_stats(device.index).peak_allocated_bytes)
                         : 0.0;
    const double sec = median(times), tokens = static_cast<double>(batch * seq_len);
    const double flops = train_flops_per_token(c, seq_len);
    const double gflops =
        sgemm_gflops(batch * seq_len, c.hidden_size, c.intermediate_size, device, gemm_dtype);
    const double tps = tokens / sec, bound = gflops * 1e9 / flops;
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
                                 {"peak_mem_bytes", peak}});
  }
  write_bench_json(args.get_or("out", default_bench_path(device.is_cuda() ? "cuda-train-" + dtype
                                                                          : "cpu-train")),
                   report);
  return 0;
}

}  // namespace

int cmd_bench_train(int argc, char** argv) { return bench_train(argc, argv); }

}  // namespace khub::cli
