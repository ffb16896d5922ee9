// khub tokenize: encodes JSON-lines input with a model directory's tokenizer (tokenizer.json).
//   khub tokenize --tokenizer DIR --input FILE.jsonl [--add-special-tokens] [--tokens]
// Each input line is one JSON string; each output line is {"ids": [...], "decoded": "..."} (plus
// "tokens" with --tokens). With --chat, each input line is a JSON array of chat messages instead,
// rendered with the directory's chat template (--add-generation-prompt, --template-vars JSON) and
// the output adds "prompt". --input - reads standard input.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/auto_tokenizer.h"

namespace khub::cli {

int cmd_tokenize(const Args& args) {
  const std::string dir = args.get("tokenizer");
  const std::string input = args.get("input");
  const bool add_special = args.has("add-special-tokens");
  const bool skip_special = args.has("skip-special-tokens");
  const bool with_tokens = args.has("tokens");
  const bool chat = args.has("chat");

  AutoTokenizer tok = AutoTokenizer::from_pretrained(dir);
  ChatTemplateOptions chat_options;
  chat_options.add_generation_prompt = args.has("add-generation-prompt");
  if (args.has("template-vars")) {
    chat_options.extra = nlohmann::ordered_json::parse(args.get("template-vars"), nullptr, false);
    if (chat_options.extra.is_discarded() || !chat_options.extra.is_object())
      fail(ErrorKind::kInvalidArgument, "--template-vars must be a JSON object");
  }

  std::ifstream file;
  if (input != "-") {
    file.open(input);
    if (!file) fail(ErrorKind::kNotFound, "cannot open input '", input, "'");
  }
  std::istream& in = input == "-" ? std::cin : file;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded()) fail(ErrorKind::kFormat, input, ":", line_no, ": not valid JSON");
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    std::string text;
    if (chat) {
      if (!j.is_array())
        fail(ErrorKind::kFormat, input, ":", line_no, ": expected a JSON array of messages");
      text = tok.apply_chat_template(j, chat_options);
      out["prompt"] = text;
    } else {
      if (!j.is_string()) fail(ErrorKind::kFormat, input, ":", line_no, ": expected a JSON string");
      text = j.get<std::string>();
    }
    std::vector<int32_t> ids = tok.encode(text, add_special);
    out["ids"] = ids;
    out["decoded"] = tok.decode(ids, skip_special);
    if (with_tokens) {
      auto tokens = nlohmann::ordered_json::array();
      for (int32_t id : ids) tokens.push_back(tok.tokenizer()->id_to_token(id).value_or(""));
      out["tokens"] = tokens;
    }
    std::string s = out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}

const CommandSpec& tokenize_spec() {
  static const CommandSpec s{
      .name = "tokenize",
      .summary = "encode JSON-lines text (or chat messages) with a tokenizer.json",
      .synopsis = "--tokenizer DIR --input FILE.jsonl [options]",
      .details =
          "Each input line is a JSON string (with --chat, an array of messages); each output "
          "line is {\"ids\", \"decoded\"}.",
      .options = {opt("tokenizer", OptType::kPath, "DIR", "the directory with tokenizer.json")
                      .default_doc("required")
                      .eg("models/q"),
                  opt("input", OptType::kPath, "FILE", "JSON lines to encode (- reads stdin)")
                      .default_doc("required")
                      .eg("texts.jsonl"),
                  flag("add-special-tokens", "add BOS/EOS as the tokenizer's post-processor says"),
                  flag("skip-special-tokens", "leave special tokens out of \"decoded\""),
                  flag("tokens", "add the token strings (\"tokens\")"),
                  flag("chat", "each line is a JSON array of chat messages"),
                  flag("add-generation-prompt", "with --chat: end with the assistant's prompt"),
                  opt("template-vars", OptType::kText, "JSON", "extra chat template variables")
                      .eg("'{\"enable_thinking\": false}'")},
      .run = cmd_tokenize};
  return s;
}

}  // namespace khub::cli
