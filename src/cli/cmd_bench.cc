// khub bench <what> ...: benchmarks that write JSON under bench/results/ and print a table.
//   khub bench decode [--arch qwen3] [--presets tiny,small] [--batches 1,8] [--tokens 32]
//                     [--prompt-len 16] [--models-dir build/models] [--out FILE]
//                     [--device cpu|cuda[:N]] [--dtype f32|bf16|f16] [--prefill 4096,...]
//                     [--peers FILE] [--lookahead auto|on|off]
//   khub bench kernels [--arch qwen3] [--preset small] [--batches 1,8] [--tokens 32]
//                      [--repeats 3] [--out FILE]
//   khub bench train   (cmd_bench_train.cc)
// --prefill times one forward pass over a prompt of each length (last-token logits, as
// transformers' prefill with logits_to_keep=1); --peers embeds a peers JSON (e.g.
// shared/bench/peers-h100.json) in the report for context; --lookahead sets generate()'s greedy
// look-ahead (default auto: on where decode steps replay CUDA graphs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/args.h"
#include "cli/bench_report.h"
#include "cli/commands.h"
#include "cli/load_options.h"
#include "cli/progress.h"
#include "core/cuda.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"

namespace khub::cli {
namespace {

// Median seconds of one prefill forward over `len` tokens (after a warm-up), host-synchronized
// by the logits' copy to the host.
double time_prefill(CausalLM& model, int64_t len, int reps) {
  std::vector<int32_t> ids(len);
  for (int64_t i = 0; i < len; ++i) {
    ids[i] = static_cast<int32_t>((i * 7919 + 13) % model.config().vocab_size);
  }
  KVCache cache = model.make_cache(1, len);
  std::vector<double> times;
  for (int r = 0; r <= reps; ++r) {
    cache.reset();
    auto t0 = std::chrono::steady_clock::now();
    model.forward({{0, ids}}, cache).to(Device::cpu());
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) times.push_back(dt);  // r == 0 warms up
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

nlohmann::json device_report(Device device) {
  if (!device.is_cuda()) return {{"type", "cpu"}};
  CudaDeviceProperties p = cuda_device_properties(device.index);
  return {{"type", "cuda"},
          {"name", p.name},
          {"compute_capability", std::to_string(p.major) + "." + std::to_string(p.minor)},
          {"multiprocessors", p.multiprocessors},
          {"memory_bytes", p.total_memory},
          {"driver_version", p.driver_version},
          {"runtime_version", p.runtime_version}};
}

// For the Qwen3-0.6B preset: khub's figures next to the peers' (transformers on the same GPU) and
// the batch-1 decode limit (weight bytes over measured copy bandwidth). Printed and stored.
void compare_with_peers(nlohmann::json& report) {
  const nlohmann::json& peers = report["peers"];
  auto peer = [&](const char* key) { return peers.contains(key) ? peers[key].get<double>() : 0.0; };
  nlohmann::json rows = nlohmann::json::array();
  auto add = [&](const std::string& what, double ours, const char* key) {
    double theirs = peer(key);
    rows.push_back({{"what", what},
                    {"khub_tok_s", ours},
                    {"peer_key", key},
                    {"peer_tok_s", theirs},
                    {"ratio", theirs > 0 ? ours / theirs : 0.0}});
  };
  for (const auto& r : report["results"]) {
    if (r["preset"] != "qwen3-0.6b") continue;
    int64_t b = r["batch"];
    if (b == 1) {
      add("decode b1", r["tokens_per_s"], "qwen3_0.6b_decode_b1_sdpa_tok_s");
      double copy = peer("copy_TBps") * 1e12;
      double weight_bytes = r["parameters"].get<double>() * (r["weights_dtype"] == "f32" ? 4 : 2);
      if (copy > 0) report["decode_b1_limit_tok_s"] = copy / weight_bytes;
    }
    if (b == 16) add("decode b16", r["tokens_per_s"], "qwen3_0.6b_decode_b16_sdpa_tok_s");
  }
  if (report.contains("prefill")) {
    for (const auto& r : report["prefill"]) {
      if (r["preset"] == "qwen3-0.6b" && r["tokens"] == 4096) {
        add("prefill 4096", r["tokens_per_s"], "qwen3_0.6b_prefill_4096_sdpa_tok_s");
      }
    }
  }
  report["comparison"] = rows;
  std::printf("\n%-14s %12s %14s %8s   (peers: transformers sdpa, same GPU model)\n", "",
              "khub tok/s", "peer tok/s", "ratio");
  for (const auto& r : rows) {
    std::printf("%-14s %12.1f %14.1f %7.2fx\n", r["what"].get<std::string>().c_str(),
                r["khub_tok_s"].get<double>(), r["peer_tok_s"].get<double>(),
                r["ratio"].get<double>());
  }
  if (report.contains("decode_b1_limit_tok_s")) {
    std::printf("decode b1 limit (weight bytes / copy bandwidth): %.0f tok/s\n",
                report["decode_b1_limit_tok_s"].get<double>());
  }
}

int bench_decode(const Args& args) {
  std::string arch = args.get("arch");
  std::string lookahead = args.get("lookahead");
  KHUB_CHECK_ARG(lookahead == "auto" || lookahead == "on" || lookahead == "off", "--lookahead ",
                 lookahead, ": expected auto (on with CUDA graphs), on or off");
  int64_t tokens = args.get_int("tokens"), prompt_len = args.get_int("prompt-len");
  std::string models_dir = args.get("models-dir");
  LoadOptions load = load_options_from_args(args);
  Device device = Device::parse(load.device);
  nlohmann::json report = bench_environment();
  report["benchmark"] = device.str() + " decode, " +
                        (load.use_kernels ? "--use-kernels" : "reference path") +
                        (load.mode ? ", mode " + mode_name(*load.mode) : "");
  report["use_kernels"] = load.use_kernels;
  if (load.mode) report["mode"] = mode_name(*load.mode);
  report["compute_device"] = device_report(device);
  report["arch"] = arch;
  report["decode_tokens_per_sequence"] = tokens;
  report["prompt_len"] = prompt_len;
  report["lookahead"] = lookahead;
  report["results"] = nlohmann::json::array();
  std::printf("%-8s %6s %12s %10s %12s\n", "preset", "batch", "params(M)", "tok/s", "ms/token");
  std::fflush(stdout);
  ProgressLine progress(progress_enabled(args));
  for (const std::string& preset : split_list(args.get("presets"), ',')) {
    std::string dir = models_dir + "/" + arch + "-" + preset;
    if (!std::filesystem::exists(dir + "/config.json")) {
      write_random_checkpoint(InitModelOptions{.arch = arch, .preset = preset}, dir);
    }
    progress.show("bench decode: loading " + preset, true);
    auto model = CausalLM::from_pretrained(dir, load);
    if (model->kernels_enabled()) report["kernels"] = model->kernel_report().to_json();
    for (const std::string& b : split_list(args.get("batches"), ',')) {
      int64_t batch = std::stoll(b);
      progress.show(
          "bench decode: " + preset + ", batch " + b + ", " + std::to_string(tokens) + " tokens",
          true);
      std::vector<std::vector<int32_t>> prompts(batch);
      for (int64_t s = 0; s < batch; ++s)
        for (int64_t i = 0; i < prompt_len; ++i)
          prompts[s].push_back(
              static_cast<int32_t>((s * 31 + i * 7 + 1) % model->config().vocab_size));
      GenerationOptions g;
      g.max_new_tokens = tokens;
      g.ignore_eos = true;
      if (lookahead != "auto") g.lookahead = lookahead == "on";
      // Warm-up: the same run, so the timed one finds the allocator's blocks and, in Mode
      // Compile, its decode graph (captured once per batch size and cache) ready.
      generate(*model, prompts, g);
      int64_t replays_before = model->graph_replays();
      GenerationResult r = generate(*model, prompts, g);
      double tps = r.decode_tokens_per_second();
      double ms_per_step = r.decode_seconds * 1e3 / std::max<int64_t>(r.decode_steps, 1);
      progress.clear();
      std::printf("%-8s %6lld %12.1f %10.1f %12.2f\n", preset.c_str(), (long long)batch,
                  model->config().num_parameters() / 1e6, tps, ms_per_step);
      report["results"].push_back({{"preset", preset},
                                   {"batch", batch},
                                   {"parameters", model->config().num_parameters()},
                                   {"weights_dtype", dtype_name(model->config().dtype)},
                                   {"activation_dtype", dtype_name(model->activation_dtype())},
                                   {"tokens_per_s", tps},
                                   {"ms_per_step", ms_per_step},
                                   {"graph_replays", model->graph_replays() - replays_before},
                                   {"prefill_ms", r.prefill_seconds * 1e3}});
    }
    if (args.has("prefill")) {
      for (const std::string& l : split_list(args.get("prefill"), ',')) {
        int64_t len = std::stoll(l);
        double sec = time_prefill(*model, len, 3);
        progress.clear();
        std::printf("%-8s prefill %6lld tokens: %10.1f tok/s %10.2f ms\n", preset.c_str(),
                    (long long)len, len / sec, sec * 1e3);
        report["prefill"].push_back({{"preset", preset},
                                     {"tokens", len},
                                     {"tokens_per_s", len / sec},
                                     {"ms", sec * 1e3},
                                     {"activation_dtype", dtype_name(model->activation_dtype())}});
      }
    }
  }
  if (args.has("peers")) {
    std::ifstream in(args.get("peers"));
    KHUB_CHECK_ARG(in.good(), "--peers: cannot read '", args.get("peers"), "'");
    report["peers"] = nlohmann::json::parse(in, nullptr, false);
    KHUB_CHECK_ARG(!report["peers"].is_discarded(), "--peers: '", args.get("peers"),
                   "' is not JSON");
    report["peers_source"] = args.get("peers");
    compare_with_peers(report);
  }
  std::string name = std::string(device.is_cuda() ? "cuda-decode-reference" : "cpu-decode") +
                     (load.use_kernels ? "-kernels" : "");
  write_bench_json(args.get_or("out", default_bench_path(name)), report);
  return 0;
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  KHUB_CHECK_ARG(p != nullptr, "cannot run ", cmd);
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) fail(ErrorKind::kInternal, "`", cmd, "` exited with ", rc);
  return out;
}

// Kernels against the reference path on one model, in one run: decode tokens/s at each batch and
// the speedup; then the time kernelize adds at load in fresh processes, cold (no verification
// receipts: every kernel file is hashed) and warm (receipts present).
int bench_kernels(const Args& args) {
  const std::string self_path = std::filesystem::read_symlink("/proc/self/exe").string();
  const char* self = self_path.c_str();
  std::string arch = args.get("arch"), preset = args.get("preset");
  int64_t tokens = args.get_int("tokens"), repeats = args.get_int("repeats");
  std::string dir = args.get("models-dir") + "/" + arch + "-" + preset;
  if (!std::filesystem::exists(dir + "/config.json")) {
    write_random_checkpoint(InitModelOptions{.arch = arch, .preset = preset}, dir);
  }
  nlohmann::json report = bench_environment();
  report["benchmark"] = "cpu decode with --use-kernels vs the reference path";
  report["model"] = arch + "-" + preset;
  auto ref = CausalLM::from_pretrained(dir);
  auto ker = CausalLM::from_pretrained(dir, {.use_kernels = true});
  report["kernels"] = ker->kernel_report().to_json();
  report["params"] = ref->config().num_parameters();
  std::printf("%-6s %12s %12s %8s\n", "batch", "ref tok/s", "kern tok/s", "speedup");
  for (const std::string& b : split_list(args.get("batches"), ',')) {
    int64_t batch = std::stoll(b);
    std::vector<std::vector<int32_t>> prompts(batch, std::vector<int32_t>(16));
    for (int64_t s = 0; s < batch; ++s)
      for (int i = 0; i < 16; ++i)
        prompts[s][i] = static_cast<int32_t>(1 + (s * 13 + i * 7) % 1000);
    GenerationOptions g{.max_new_tokens = tokens, .ignore_eos = true};
    double best[2] = {0, 0};
    for (int64_t r = 0; r < repeats; ++r) {  // interleaved, best of `repeats` each
      CausalLM* models[2] = {ref.get(), ker.get()};
      for (int m = 0; m < 2; ++m) {
        best[m] = std::max(best[m], generate(*models[m], prompts, g).decode_tokens_per_second());
      }
    }
    std::printf("%-6lld %12.1f %12.1f %8.2f\n", (long long)batch, best[0], best[1],
                best[1] / best[0]);
    report["decode"].push_back({{"batch", batch},
                                {"reference_tokens_per_s", best[0]},
                                {"kernels_tokens_per_s", best[1]},
                                {"speedup", best[1] / best[0]}});
  }
  // kernelize at load, in fresh processes.
  std::string receipts =
      (std::filesystem::temp_directory_path() / ("khub-bench-receipts-" + std::to_string(getpid())))
          .string();
  auto kernelize_ms = [&](bool cold) {
    if (cold) std::filesystem::remove_all(receipts);
    std::string out =
        run_capture("KHUB_RECEIPTS_DIR=" + receipts + " " + self + " generate --model " + dir +
                    " --prompt-ids 1 --max-new-tokens 1 --use-kernels --json "
                    "2>/dev/null");
    return nlohmann::json::parse(out)["kernelize_ms"].get<double>();
  };
  std::vector<double> cold, warm;
  for (int64_t r = 0; r < repeats; ++r) {
    cold.push_back(kernelize_ms(true));
    warm.push_back(kernelize_ms(false));
  }
  std::filesystem::remove_all(receipts);
  std::sort(cold.begin(), cold.end());
  std::sort(warm.begin(), warm.end());
  std::printf("kernelize at load: cold %.2f ms, warm %.2f ms (median of %lld)\n",
              cold[cold.size() / 2], warm[warm.size() / 2], (long long)repeats);
  report["kernelize_ms"] = {{"cold_median", cold[cold.size() / 2]},
                            {"warm_median", warm[warm.size() / 2]},
                            {"cold", cold},
                            {"warm", warm}};
  write_bench_json(args.get_or("out", default_bench_path("cpu-kernels-decode")), report);
  return 0;
}

// The options bench decode and bench kernels share.
std::vector<OptionSpec> bench_model_options(const char* batches) {
  return {opt("arch", OptType::kText, "ARCH", "the architecture of the models khub creates")
              .with_default("qwen3")
              .eg("llama"),
          opt("batches", OptType::kList, "B[,B]", "batch sizes").with_default(batches).eg("1,16"),
          opt("tokens", OptType::kInt, "N", "decode steps per run").with_default("32").eg("64"),
          opt("models-dir", OptType::kPath, "DIR", "where the random-weight models are kept")
              .with_default("build/models")
              .eg("/tmp/models"),
          opt("out", OptType::kPath, "FILE", "the JSON report")
              .default_doc("bench/results/DATE-NAME.json")
              .eg("/tmp/decode.json")};
}

const CommandSpec& bench_decode_spec() {
  static const CommandSpec s{
      .name = "bench decode",
      .summary = "decode (and prefill) tokens/s of random-weight models khub creates",
      .synopsis = "[--presets tiny,small] [--batches 1,8] [options]",
      .options = join(
          join(bench_model_options("1,8"),
               {opt("presets", OptType::kList, "P[,P]", "model presets")
                    .with_default("tiny,small")
                    .eg("qwen3-0.6b"),
                opt("prompt-len", OptType::kInt, "N", "prompt tokens").with_default("16").eg("128"),
                opt("prefill", OptType::kList, "L[,L]",
                    "also time one forward over prompts this long")
                    .eg("4096"),
                opt("peers", OptType::kPath, "FILE", "a peers JSON to embed for context")
                    .eg("shared/bench/peers-h100.json"),
                opt("lookahead", OptType::kChoice, "MODE",
                    "greedy look-ahead (auto: with CUDA graphs)")
                    .with_default("auto")
                    .one_of({"auto", "on", "off"})
                    .eg("off")}),
          load_option_specs()),
      .run = bench_decode};
  return s;
}

const CommandSpec& bench_kernels_spec() {
  static const CommandSpec s{
      .name = "bench kernels",
      .summary = "kernels against the reference path: decode speedup and kernelize time at load",
      .synopsis = "[--preset small] [--batches 1,8] [--repeats 3] [options]",
      .options = join(
          bench_model_options("1,8"),
          {opt("preset", OptType::kText, "P", "the model preset").with_default("small").eg("tiny"),
           opt("repeats", OptType::kInt, "N", "fresh processes per load timing")
               .with_default("3")
               .eg("5")}),
      .run = bench_kernels};
  return s;
}

}  // namespace

const CommandSpec& bench_spec() {
  static const CommandSpec s{
      .name = "bench",
      .summary = "run a benchmark; writes JSON under bench/results/",
      .synopsis = "decode|kernels|train [options]",
      .subcommands = {&bench_decode_spec(), &bench_kernels_spec(), &bench_train_spec()}};
  return s;
}

}  // namespace khub::cli
