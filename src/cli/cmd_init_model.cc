// khub init-model --arch ARCH --preset PRESET --out DIR [--seed N] [--dtype f32|bf16|f16]
//                 [--config-override JSON] [--max-shard-size 2GB] [--tokenizer DIR]
// --tokenizer copies DIR's tokenizer.json and tokenizer_config.json into the checkpoint and sizes
// the vocabulary (and bos/eos ids) to that tokenizer, so that `generate --prompt` and `chat` work.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/safetensors_sharded_writer.h"
#include "models/init_weights.h"
#include "tokenizer/auto_tokenizer.h"

namespace khub::cli {

int cmd_init_model(int argc, char** argv) {
  Args args(argc, argv, {"list"});
  args.reject_unknown({"arch", "preset", "out", "seed", "dtype", "config-override",
                       "max-shard-size", "list", "tokenizer"});
  if (args.has("list")) {
    std::printf("%s", list_presets().c_str());
    return 0;
  }
  InitModelOptions o;
  o.arch = args.get("arch");
  o.preset = args.get("preset");
  o.seed = static_cast<uint64_t>(args.get_int_or("seed", 0));
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
  ModelConfig c = write_random_checkpoint(o, out);
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

}  // namespace khub::cli
