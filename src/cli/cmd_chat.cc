// khub chat --model DIR [--system TEXT] [--max-new-tokens N] [--temperature T] [--top-p P]
//   [--top-k K] [--min-p P] [--repetition-penalty R] [--seed S] [--greedy] [--no-thinking]
//   [--device cpu] [--use-kernels] [--kernel-config F] [--attn-implementation REF]
// An interactive conversation: each line on stdin is a user turn; the model's reply streams to
// stdout as it is generated, through the chat template in the model's tokenizer_config.json.
// "/exit" or end of input ends the session; "/reset" forgets the conversation.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/load_options.h"
#include "models/generation.h"
#include "tokenizer/auto_tokenizer.h"

namespace khub::cli {

int cmd_chat(const Args& args) {
  std::string dir = args.get("model");
  AutoTokenizer tok = AutoTokenizer::from_pretrained(dir);
  KHUB_CHECK_ARG(tok.has_chat_template(), dir, "/tokenizer_config.json has no chat_template");
  auto model = CausalLM::from_pretrained(dir, load_options_from_args(args));
  if (args.has("explain-kernels"))
    std::fprintf(stderr, "%s", model->kernel_report().table().c_str());

  GenerationOptions g;
  g.max_new_tokens = args.get_int("max-new-tokens");
  g.sampling.do_sample = !args.has("greedy");
  g.sampling.temperature = static_cast<float>(args.get_double("temperature"));
  g.sampling.top_p = static_cast<float>(args.get_double("top-p"));
  g.sampling.top_k = args.get_int("top-k");
  g.sampling.min_p = static_cast<float>(args.get_double("min-p"));
  g.sampling.repetition_penalty = static_cast<float>(args.get_double("repetition-penalty"));
  g.seed = static_cast<uint64_t>(args.get_int("seed"));
  if (auto eos = tok.eos_token_id()) g.stop_token_ids.push_back(*eos);

  ChatTemplateOptions t;
  t.add_generation_prompt = true;
  if (args.has("no-thinking")) t.extra["enable_thinking"] = false;
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (args.has("system")) messages.push_back({{"role", "system"}, {"content", args.get("system")}});
  size_t keep = messages.size();

  for (std::string line;
       std::fprintf(stdout, "> "), std::fflush(stdout), std::getline(std::cin, line);) {
    if (line == "/exit") break;
    if (line == "/reset") {
      messages.erase(messages.begin() + static_cast<long>(keep), messages.end());
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    std::vector<int32_t> prompt = tok.apply_chat_template_ids(messages, t);
    DecodeStream stream = tok.decode_stream(/*skip_special_tokens=*/true);
    std::string reply;
    g.on_token = [&](int64_t, int32_t id) {
      std::string piece = stream.step(id);
      reply += piece;
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
      return true;
    };
    GenerationResult r = generate(*model, {prompt}, g);
    std::string rest = stream.flush();
    reply += rest;
    std::fprintf(stdout, "%s\n", rest.c_str());
    std::fprintf(stderr, "[%zu prompt tokens, %lld generated, %.1f tokens/s]\n", prompt.size(),
                 static_cast<long long>(r.tokens[0].size()), r.decode_tokens_per_second());
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

const CommandSpec& chat_spec() {
  static const CommandSpec s{
      .name = "chat",
      .summary = "an interactive, streaming chat with a model directory's chat template",
      .synopsis = "--model DIR [options]",
      .details =
          "Each line on stdin is a user turn; /reset forgets the conversation, /exit ends it.",
      .options = join(
          {opt("model", OptType::kPath, "DIR", "the model directory (with tokenizer files)")
               .default_doc("required")
               .eg("models/q"),
           opt("system", OptType::kText, "TEXT", "a system message first").eg("'Answer briefly.'"),
           opt("max-new-tokens", OptType::kInt, "N", "tokens per reply at most")
               .with_default("256")
               .eg("128"),

           flag("no-thinking", "render the template with enable_thinking=false"),
           flag("explain-kernels", "print the kernel report on stderr after loading")},
          join(sampling_option_specs("0.7", "0.9"), load_option_specs())),
      .run = cmd_chat};
  return s;
}

}  // namespace khub::cli
