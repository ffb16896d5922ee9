// khub generate --model DIR (--prompt-ids 1,2,3[;4,5] | --prompt TEXT [--chat])
//   [--max-new-tokens N] [--greedy | --sample]
//   [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repetition-penalty R] [--seed S]
//   [--eos-ids 1,2] [--stop-ids 3] [--ignore-eos] [--stream] [--json]
//   [--device cpu|cuda[:N]] [--dtype f32|bf16|f16] [--use-kernels] [--kernel-config FILE.json]
//   [--attn-implementation REF] [--mode MODE] [--kernels-lock FILE|none]
//   [--strict] [--explain-kernels]
// With kernels on, the nearest kernels.lock above the working directory (or --kernels-lock FILE)
// pins the kernels it lists: locked revision and variants, checked against the lock (cli/
// load_options.h).
// Sampling is on with --sample or any sampling option, unless --greedy. --prompt encodes TEXT with
// the model directory's tokenizer (special tokens added as HF does), or with --chat renders it as
// one user message through the chat template; the output then carries the decoded `text`.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/load_options.h"
#include "cli/prompt_ids.h"
#include "models/causal_lm.h"
#include "models/generation.h"
#include "tokenizer/auto_tokenizer.h"

namespace khub::cli {

int cmd_generate(const Args& args) {
  LoadOptions load = load_options_from_args(args);
  std::optional<AutoTokenizer> tok;
  std::vector<std::vector<int32_t>> prompts;
  if (args.has("prompt")) {
    KHUB_CHECK_ARG(!args.has("prompt-ids"), "--prompt and --prompt-ids exclude each other");
    tok = AutoTokenizer::from_pretrained(args.get("model"));
    if (args.has("chat")) {
      nlohmann::ordered_json messages = {{{"role", "user"}, {"content", args.get("prompt")}}};
      prompts.push_back(tok->apply_chat_template_ids(messages, {.add_generation_prompt = true}));
    } else {
      prompts.push_back(tok->encode(args.get("prompt"), /*add_special_tokens=*/true));
    }
  } else {
    prompts = parse_id_batches(args.get("prompt-ids"));
  }
  GenerationOptions opt;
  opt.max_new_tokens = args.get_int("max-new-tokens");
  SamplingOptions& s = opt.sampling;
  s.temperature = static_cast<float>(args.get_double("temperature"));
  s.top_k = args.get_int("top-k");
  s.top_p = static_cast<float>(args.get_double("top-p"));
  s.min_p = static_cast<float>(args.get_double("min-p"));
  s.repetition_penalty = static_cast<float>(args.get_double("repetition-penalty"));
  bool sampling_option =
      args.has("temperature") || args.has("top-k") || args.has("top-p") || args.has("min-p");
  KHUB_CHECK_ARG(!(args.has("greedy") && args.has("sample")),
                 "--greedy and --sample exclude each other");
  s.do_sample = !args.has("greedy") && (args.has("sample") || sampling_option);
  opt.seed = static_cast<uint64_t>(args.get_int("seed"));
  if (args.has("eos-ids")) opt.eos_token_ids = parse_id_list(args.get("eos-ids"));
  if (args.has("stop-ids")) opt.stop_token_ids = parse_id_list(args.get("stop-ids"));
  opt.ignore_eos = args.has("ignore-eos");
  if (tok && !opt.ignore_eos) {
    if (auto eos = tok->eos_token_id()) opt.stop_token_ids.push_back(*eos);
  }
  bool json = args.has("json");
  std::optional<DecodeStream> text_stream;
  if (args.has("stream") && tok) {
    text_stream = tok->decode_stream();
    opt.on_token = [&](int64_t, int32_t id) {
      std::string piece = text_stream->step(id);
      std::fputs(piece.c_str(), json ? stderr : stdout);
      std::fflush(json ? stderr : stdout);
      return true;
    };
  } else if (args.has("stream")) {
    opt.on_token = [&](int64_t seq, int32_t tok) {
      std::fprintf(json ? stderr : stdout, prompts.size() > 1 ? "[%lld]%d " : "%d ",
                   prompts.size() > 1 ? static_cast<long long>(seq) : tok, tok);
      std::fflush(json ? stderr : stdout);
      return true;
    };
  }

  auto t_load = std::chrono::steady_clock::now();
  auto model = CausalLM::from_pretrained(args.get("model"), load);
  double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  if (args.has("explain-kernels"))
    std::fprintf(stderr, "%s", model->kernel_report().table().c_str());
  GenerationResult r = generate(*model, prompts, opt);
  if (text_stream) std::fputs(text_stream->flush().c_str(), json ? stderr : stdout);
  if (args.has("stream")) std::fprintf(json ? stderr : stdout, "\n");

  nlohmann::json out;
  out["ids"] = prompts.size() == 1 ? nlohmann::json(r.tokens[0]) : nlohmann::json(r.tokens);
  out["tokens_per_s"] = r.decode_tokens_per_second();
  out["prefill_ms"] = r.prefill_seconds * 1e3;
  out["decode_ms"] = r.decode_seconds * 1e3;
  out["decode_tokens"] = r.decode_tokens;
  out["batch"] = prompts.size();
  if (tok) {
    out["prompt_ids"] = prompts[0];
    out["text"] = tok->decode(r.tokens[0], /*skip_special_tokens=*/true);
  }
  out["device"] = model->device().str();
  out["kernels"] = model->kernel_report().to_json();
  out["load_ms"] = load_ms;
  out["kernelize_ms"] = model->kernel_report().seconds * 1e3;
  // Mode Compile: decode steps replayed from CUDA graphs, and graphs captured (one per batch size).
  out["graph_replays"] = model->graph_replays();
  out["graphs_captured"] = model->graphs_captured();
  if (json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    if (tok && !args.has("stream")) std::printf("%s\n", out["text"].get<std::string>().c_str());
    for (size_t i = 0; i < r.tokens.size() && !tok; ++i) {
      std::printf("%s", prompts.size() > 1 ? ("[" + std::to_string(i) + "] ").c_str() : "");
      for (int32_t t : r.tokens[i]) std::printf("%d ", t);
      std::printf("\n");
    }
    std::printf("prefill %.1f ms, decode %.2f tokens/s (%lld tokens)\n", r.prefill_seconds * 1e3,
                r.decode_tokens_per_second(), static_cast<long long>(r.decode_tokens));
  }
  return 0;
}

const CommandSpec& generate_spec() {
  static const CommandSpec s{
      .name = "generate",
      .summary = "generate tokens from a model directory",
      .synopsis = "--model DIR (--prompt-ids IDS | --prompt TEXT [--chat]) [options]",
      .details = "Sampling is on with --sample or any sampling option, unless --greedy.",
      .options = join(
          {opt("model", OptType::kPath, "DIR", "the model directory (config.json, safetensors)")
               .default_doc("required")
               .eg("models/q"),
           opt("prompt-ids", OptType::kList, "IDS", "token ids; ';' separates a batch's prompts")
               .eg("'1,2,3;4,5'"),
           opt("prompt", OptType::kText, "TEXT", "text, encoded with DIR's tokenizer").eg("Hello"),
           flag("chat", "render --prompt as one user message through the chat template"),
           opt("max-new-tokens", OptType::kInt, "N", "tokens to generate per prompt at most")
               .with_default("32")
               .eg("64"),
           flag("sample", "sample (temperature 1 unless given)"),

           opt("eos-ids", OptType::kList, "IDS", "end-of-sequence ids")
               .default_doc("config.json's eos_token_id")
               .eg("2"),
           opt("stop-ids", OptType::kList, "IDS", "more ids that stop a sequence").eg("3,4"),
           flag("ignore-eos", "generate --max-new-tokens whatever comes"),
           flag("stream", "print tokens as they come (on stderr with --json)"),
           flag("json", "print one JSON object (ids, timings, kernels) on stdout"),
           flag("explain-kernels", "print the kernel report on stderr after loading")},
          join(sampling_option_specs("1.0", "1.0"), load_option_specs())),
      .run = cmd_generate};
  return s;
}

}  // namespace khub::cli
