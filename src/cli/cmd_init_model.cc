// khub init-model --arch ARCH --preset PRESET --out DIR [--seed N] [--dtype f32|bf16|f16]
//                 [--config-override JSON] [--max-shard-size 2GB] [--tokenizer DIR]
// --tokenizer copies DIR's tokenizer.json and tokenizer_config.json into the checkpoint and sizes
// the vocabulary (and bos/eos ids) to that tokenizer, so that `generate --prompt` and `chat` work.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "io/safetensors_sharded_writer.h"
#include "models/init_weights.h"
#include "tokenizer/auto_tokenizer.h"

namespace khub::cli {

int cmd_init_model(const Args& args) {
  if (args.has("list")) {
    std::printf("%s", list_presets().c_str());
    return 0;
  }
  InitModelOptions o;
  o.arch = args.get("arch");
  o.preset = args.get("preset");
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.dtype = args.get_or("dtype", "");
  if (args.has("config-override")) {
    o.overrides = nlohmann::json::parse(args.get("config-override"), nullptr, false);
    if (o.overrides.is_discarded() || !o.overrides.is_object()) {
      fail(ErrorKind::kInvalidArgument,
           "--config-override is not a JSON object: ", args.get("config-override"));
    }
  }
  if (args.has("max-shard-size")) o.max_shard_bytes = parse_byte_size(args.get("max-shard-size"));
  std::string out = args.get("out");
  std::filesystem::path tok_dir;
  if (args.has("tokenizer")) {
    tok_dir = args.get("tokenizer");
    o.byte_tokenizer = false;
    AutoTokenizer tok = AutoTokenizer::from_pretrained(tok_dir.string());
    o.overrides["vocab_size"] = tok.tokenizer()->vocab_size();
    if (auto id = tok.bos_token_id()) o.overrides["bos_token_id"] = *id;
    if (auto id = tok.eos_token_id()) o.overrides["eos_token_id"] = *id;
  }
  ProgressLine progress(progress_enabled(args));
  const auto start = std::chrono::steady_clock::now();
  if (progress.enabled()) {
    o.on_progress = [&](uint64_t done, uint64_t total) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double rate = secs > 0 ? done / secs : 0.0;
      char line[160];
      std::snprintf(line, sizeof line, "init-model: %.1f / %.1f MB (%.0f%%)  %.1f MB/s  ETA %s",
                    done / 1e6, total / 1e6, total ? 100.0 * done / total : 100.0, rate / 1e6,
                    format_eta(rate > 0 ? (total - done) / rate : 0.0).c_str());
      progress.show(line, done == total);
    };
  }
  ModelConfig c = write_random_checkpoint(o, out);
  progress.end();
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    if (!tok_dir.empty() && std::filesystem::exists(tok_dir / f)) {
      std::filesystem::copy_file(tok_dir / f, std::filesystem::path(out) / f,
                                 std::filesystem::copy_options::overwrite_existing);
    }
  }
  std::printf("wrote %s (%s, %.1fM parameters, %s)\n", out.c_str(), c.architecture.c_str(),
              c.num_parameters() / 1e6, std::string(dtype_name(c.dtype)).c_str());
  return 0;
}

const CommandSpec& init_model_spec() {
  static const CommandSpec s{
      .name = "init-model",
      .summary = "write a random-weight Hugging Face checkpoint",
      .synopsis = "--arch ARCH --preset PRESET --out DIR [options] | --list",
      .options =
          {opt("arch", OptType::kText, "ARCH", "the architecture (--list shows them)")
               .default_doc("required")
               .eg("qwen3"),
           opt("preset", OptType::kText, "PRESET", "the shapes (--list shows them)")
               .default_doc("required")
               .eg("qwen3-0.6b"),
           opt("out", OptType::kPath, "DIR", "the checkpoint directory to write")
               .default_doc("required")
               .eg("models/q"),
           opt("seed", OptType::kInt, "N", "the weights' random seed").with_default("0").eg("7"),
           opt("dtype", OptType::kChoice, "DTYPE", "the weights' dtype")
               .default_doc("the preset's dtype")
               .one_of({"f32", "bf16", "f16"})
               .eg("bf16"),
           opt("config-override", OptType::kText, "JSON", "config.json fields to change")
               .eg("'{\"num_hidden_layers\": 2}'"),
           opt("max-shard-size", OptType::kText, "SIZE", "split the safetensors into shards")
               .default_doc("one file")
               .eg("2GB"),
           opt("tokenizer", OptType::kPath, "DIR", "copy DIR's tokenizer and size the vocab to it")
               .eg(".testdata/qwen3"),
           flag("list", "list the architectures and presets")},
      .run = cmd_init_model};
  return s;
}

}  // namespace khub::cli
