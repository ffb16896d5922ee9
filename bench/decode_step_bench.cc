// Batch-1 decode with the `DecodeStep` kernel (khub-community/decode-step: the whole stack in one
// persistent launch) against khub's per-layer path (the default mapping with DecodeStep switched
// off), both in Mode inference|compile (CUDA graphs, greedy look-ahead), on random-weight models
// of real shapes, in one run. Also measures the device's copy bandwidth in the same run, for the
// limit: bytes one step must read (every layer's weights and the LM head) over that bandwidth.
//   bench_decode_step [--presets qwen3:qwen3-0.6b,llama:llama-3.2-1b] [--tokens 256]
//                     [--prompt-len 16] [--reps 3] [--out FILE] [--models-dir DIR]
// Writes JSON with top-level decode_b1_tok_s (the first preset, fused), bandwidth_limit_tok_s
// and device; prints a table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/cuda.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"

namespace fs = std::filesystem;
using namespace khub;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return fallback;
}

// Device-to-device copy bandwidth (bytes read + written per second) of a 1 GiB buffer.
double copy_bandwidth(Device dev) {
  const int64_t n = int64_t{1} << 29;  // bf16 elements: 1 GiB
  Tensor a = Tensor::zeros({n}, DType::kBF16, dev), b = Tensor::zeros({n}, DType::kBF16, dev);
  b.copy_from(a);
  cuda_synchronize(dev);
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 4; ++i) b.copy_from(a);
    cuda_synchronize(dev);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 4.0 * 2.0 * static_cast<double>(n) * 2.0 / s);
  }
  return best;
}

// Bytes of weights one decode step reads (bf16): the layers' projections and norms, the final
// norm and the LM head (the embedding contributes one row).
double step_weight_bytes(const ModelConfig& c) {
  const double h = c.hidden_size, d = c.head_dim, qd = c.num_attention_heads * d;
  const double kvd = c.num_key_value_heads * d, inter = c.intermediate_size;
  const double layer = (qd + 2 * kvd) * h + h * qd + 2 * inter * h + h * inter + 2 * h;
  return 2.0 * (c.num_hidden_layers * layer + h + static_cast<double>(c.vocab_size) * h);
}

struct Run {
  double tok_s = 0;
  std::vector<int32_t> tokens;
  int64_t fused_steps = 0;
};

Run time_decode(CausalLM& model, const std::vector<int32_t>& prompt, int64_t tokens, int reps) {
  GenerationOptions g;
  g.max_new_tokens = tokens;
  g.ignore_eos = true;
  g.lookahead = true;
  Run r;
  generate(model, {prompt}, g);  // warm-up: captures the graphs
  for (int i = 0; i < reps; ++i) {
    GenerationResult res = generate(model, {prompt}, g);
    r.tok_s = std::max(r.tok_s, res.decode_tokens_per_second());
    r.tokens = res.tokens[0];
  }
  r.fused_steps = model.fused_decode_steps();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (!cuda_available()) {
      std::fprintf(stderr, "bench_decode_step: no CUDA device: %s\n", cuda_status().c_str());
      return 2;
    }
    const std::string presets = arg(argc, argv, "presets", "qwen3:qwen3-0.6b,llama:llama-3.2-1b");
    const int64_t tokens = std::stoll(arg(argc, argv, "tokens", "256"));
    const int64_t prompt_len = std::stoll(arg(argc, argv, "prompt-len", "16"));
    const int reps = std::stoi(arg(argc, argv, "reps", "3"));
    const std::string out = arg(argc, argv, "out", "decode-megakernel.json");
    const fs::path models =
        arg(argc, argv, "models-dir", (fs::temp_directory_path() / "khub_mk_models").string());
    setenv("KHUB_DECODE_STEP", "1", 1);  // the binding is opt-in
    Device dev = Device::parse("cuda");
    CudaDeviceProperties p = cuda_device_properties(dev.index);
    nlohmann::json report;
    report["benchmark"] =
        "batch-1 greedy decode, DecodeStep (one persistent launch) vs the per-layer path, both "
        "Mode inference|compile (CUDA graphs, look-ahead), random weights, bf16";
    report["device"] = {
        {"name", p.name},
        {"compute_capability", std::to_string(p.major) + "." + std::to_string(p.minor)},
        {"multiprocessors", p.multiprocessors},
        {"driver_version", p.driver_version},
        {"runtime_version", p.runtime_version}};
    const double bw = copy_bandwidth(dev);
    report["copy_bytes_per_s"] = bw;
    report["decode_tokens"] = tokens;
    report["prompt_len"] = prompt_len;
    std::printf("copy bandwidth: %.3f TB/s\n", bw / 1e12);
    std::printf("%-16s %10s %12s %12s %12s %9s %7s\n", "model", "GB/step", "per-layer", "fused",
                "limit", "of limit", "tokens");
    std::stringstream list(presets);
    std::string item;
    bool first = true;
    while (std::getline(list, item, ',')) {
      const std::string arch = item.substr(0, item.find(':')),
                        preset = item.substr(item.find(':') + 1);
      fs::path dir = models / preset;
      if (!fs::exists(dir / "config.json")) {
        InitModelOptions o;
        o.arch = arch;
        o.preset = preset;
        o.dtype = "bf16";
        o.seed = 3;
        write_random_checkpoint(o, dir.string());
      }
      LoadOptions lo;
      lo.device = "cuda";
      lo.dtype = "bf16";
      lo.use_kernels = true;
      lo.mode = Mode::kInference | Mode::kCompile;
      std::vector<int32_t> prompt(prompt_len);
      Run base, fused;
      double limit = 0, bytes = 0;
      std::string reason;
      {
        LoadOptions off = lo;
        off.kernel_config = KernelConfig{{{"DecodeStep", ""}}};
        auto model = CausalLM::from_pretrained(dir.string(), off);
        for (int64_t i = 0; i < prompt_len; ++i)
          prompt[i] = static_cast<int32_t>((i * 7919 + 13) % model->config().vocab_size);
        bytes = step_weight_bytes(model->config());
        limit = bw / bytes;
        base = time_decode(*model, prompt, tokens, reps);
      }
      {
        auto model = CausalLM::from_pretrained(dir.string(), lo);
        const KeyDecision* d = model->kernel_report().find("DecodeStep");
        reason = d && d->kernel ? "" : (d ? d->reason : "no DecodeStep key");
        fused = time_decode(*model, prompt, tokens, reps);
      }
      const bool same = base.tokens == fused.tokens;
      int64_t agree = 0;
      for (size_t i = 0; i < std::min(base.tokens.size(), fused.tokens.size()); ++i) {
        if (base.tokens[i] != fused.tokens[i]) break;
        ++agree;
      }
      nlohmann::json r = {{"preset", preset},
                          {"arch", arch},
                          {"weight_bytes_per_step", bytes},
                          {"per_layer_tok_s", base.tok_s},
                          {"decode_b1_tok_s", fused.tok_s},
                          {"bandwidth_limit_tok_s", limit},
                          {"fraction_of_limit", fused.tok_s / limit},
                          {"per_layer_fraction_of_limit", base.tok_s / limit},
                          {"fused_steps", fused.fused_steps},
                          {"decode_step_fallback_reason", reason},
                          {"tokens_identical", same},
                          {"tokens_agreeing_prefix", agree}};
      report["models"].push_back(r);
      if (first) {
        report["decode_b1_tok_s"] = fused.tok_s;
        report["bandwidth_limit_tok_s"] = limit;
        report["per_layer_decode_b1_tok_s"] = base.tok_s;
        report["preset"] = preset;
        first = false;
      }
      std::printf("%-16s %10.3f %12.1f %12.1f %12.1f %8.1f%% %4lld/%zu%s\n", preset.c_str(),
                  r["weight_bytes_per_step"].get<double>() / 1e9, base.tok_s, fused.tok_s, limit,
                  100.0 * fused.tok_s / limit, static_cast<long long>(agree), base.tokens.size(),
                  reason.empty() ? "" : ("  (fell back: " + reason + ")").c_str());
    }
    std::ofstream(out) << report.dump(2) << "\n";
    std::printf("wrote %s\n", out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_decode_step: %s\n", e.what());
    return 1;
  }
}
