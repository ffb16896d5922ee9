// khub bench <what> ...: benchmarks that write JSON under bench/results/ and print a table.
//   khub bench decode [--arch qwen3] [--presets tiny,small] [--batches 1,8] [--tokens 32]
//                     [--prompt-len 16] [--models-dir build/models] [--out FILE]
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

}  // namespace

int cmd_bench(int argc, char** argv) {
  std::string what = argc > 0 ? argv[0] : "";
  if (what == "decode") return bench_decode(argc - 1, argv + 1);
  fail(ErrorKind::kInvalidArgument, "khub bench: unknown benchmark '", what,
       "' (available: decode)");
}

}  // namespace khub::cli
