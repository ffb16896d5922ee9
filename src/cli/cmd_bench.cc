// khub bench <what> ...: benchmarks that write JSON under bench/results/ and print a table.
//   khub bench decode [--arch qwen3] [--presets tiny,small] [--batches 1,8] [--tokens 32]
//                     [--prompt-len 16] [--models-dir build/models] [--out FILE]
//   khub bench kernels [--arch qwen3] [--preset small] [--batches 1,8] [--tokens 32]
//                      [--repeats 3] [--out FILE]
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/bench_report.h"
#include "cli/commands.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "models/init_weights.h"

namespace khub::cli {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) out.push_back(item);
  return out;
}

int bench_decode(int argc, char** argv) {
  Args args(argc, argv, {});
  args.reject_unknown({"arch", "presets", "batches", "tokens", "prompt-len", "models-dir", "out"});
  std::string arch = args.get_or("arch", "qwen3");
  int64_t tokens = args.get_int_or("tokens", 32), prompt_len = args.get_int_or("prompt-len", 16);
  std::string models_dir = args.get_or("models-dir", "build/models");
  nlohmann::json report = bench_environment();
  report["benchmark"] = "cpu decode, reference path";
  report["arch"] = arch;
  report["decode_tokens_per_sequence"] = tokens;
  report["prompt_len"] = prompt_len;
  report["results"] = nlohmann::json::array();
  std::printf("%-8s %6s %12s %10s %12s\n", "preset", "batch", "params(M)", "tok/s", "ms/token");
  for (const std::string& preset : split(args.get_or("presets", "tiny,small"), ',')) {
    std::string dir = models_dir + "/" + arch + "-" + preset;
    if (!std::filesystem::exists(dir + "/config.json")) {
      write_random_checkpoint(InitModelOptions{.arch = arch, .preset = preset}, dir);
    }
    auto model = CausalLM::from_pretrained(dir);
    for (const std::string& b : split(args.get_or("batches", "1,8"), ',')) {
      int64_t batch = std::stoll(b);
      std::vector<std::vector<int32_t>> prompts(batch);
      for (int64_t s = 0; s < batch; ++s)
        for (int64_t i = 0; i < prompt_len; ++i)
          prompts[s].push_back(
              static_cast<int32_t>((s * 31 + i * 7 + 1) % model->config().vocab_size));
      GenerationOptions g;
      g.max_new_tokens = tokens;
      g.ignore_eos = true;
      generate(*model, prompts, {.max_new_tokens = 2, .ignore_eos = true});  // warm-up
      GenerationResult r = generate(*model, prompts, g);
      double tps = r.decode_tokens_per_second();
      double ms_per_step = r.decode_seconds * 1e3 / std::max<int64_t>(r.decode_steps, 1);
      std::printf("%-8s %6lld %12.1f %10.1f %12.2f\n", preset.c_str(), (long long)batch,
                  model->config().num_parameters() / 1e6, tps, ms_per_step);
      report["results"].push_back({{"preset", preset},
                                   {"batch", batch},
                                   {"parameters", model->config().num_parameters()},
                                   {"weights_dtype", dtype_name(model->config().dtype)},
                                   {"tokens_per_s", tps},
                                   {"ms_per_step", ms_per_step},
                                   {"prefill_ms", r.prefill_seconds * 1e3}});
    }
  }
  write_bench_json(args.get_or("out", default_bench_path("cpu-decode")), report);
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
int bench_kernels(int argc, char** argv, const char* self) {
  Args args(argc, argv, {});
  args.reject_unknown({"arch", "preset", "batches", "tokens", "models-dir", "out", "repeats"});
  std::string arch = args.get_or("arch", "qwen3"), preset = args.get_or("preset", "small");
  int64_t tokens = args.get_int_or("tokens", 32), repeats = args.get_int_or("repeats", 3);
  std::string dir = args.get_or("models-dir", "build/models") + "/" + arch + "-" + preset;
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
  for (const std::string& b : split(args.get_or("batches", "1,8"), ',')) {
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

}  // namespace

int cmd_bench(int argc, char** argv) {
  std::string what = argc > 0 ? argv[0] : "";
  if (what == "decode") return bench_decode(argc - 1, argv + 1);
  if (what == "kernels") {
    std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    return bench_kernels(argc - 1, argv + 1, self.c_str());
  }
  fail(ErrorKind::kInvalidArgument, "khub bench: unknown benchmark '", what,
       "' (available: decode, kernels)");
}

}  // namespace khub::cli
