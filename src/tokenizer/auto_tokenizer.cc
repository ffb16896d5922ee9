#include "tokenizer/auto_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "cannot open '", p.string(), "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A special token entry is a string or an AddedToken object {"content": ...}.
std::optional<std::string> token_text(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

AutoTokenizer AutoTokenizer::from_pretrained(const std::string& dir) {
  fs::path root(dir);
  if (!fs::exists(root / "tokenizer.json"))
    fail(ErrorKind::kNotFound, "'", dir, "' has no tokenizer.json");
  AutoTokenizer t;
  t.tokenizer_ = Tokenizer::from_file((root / "tokenizer.json").string());

  nlohmann::ordered_json cfg = nlohmann::ordered_json::object();
  fs::path cfg_path = root / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    cfg = nlohmann::ordered_json::parse(read_file(cfg_path), nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object())
      fail(ErrorKind::kFormat, cfg_path.string(), ": not a JSON object");
  }
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    const std::string& key = it.key();
    if (key.size() > 6 && key.compare(key.size() - 6, 6, "_token") == 0) {
      if (auto text = token_text(it.value())) t.special_vars_[key] = *text;
    }
  }
  if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array()) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& v : cfg["additional_special_tokens"])
      if (auto text = token_text(v)) list.push_back(*text);
    t.special_vars_["additional_special_tokens"] = list;
  }
  if (t.special_vars_.contains("bos_token")) t.bos_token_ = t.special_vars_["bos_token"];
  if (t.special_vars_.contains("eos_token")) t.eos_token_ = t.special_vars_["eos_token"];

  nlohmann::ordered_json tmpl = cfg.contains("chat_template") ? cfg["chat_template"] : nullptr;
  if (tmpl.is_null() && fs::exists(root / "chat_template.jinja")) {
    tmpl = read_file(root / "chat_template.jinja");
  } else if (tmpl.is_null() && fs::exists(root / "chat_template.json")) {
    auto j = nlohmann::ordered_json::parse(read_file(root / "chat_template.json"), nullptr, false);
    if (j.is_object() && j.contains("chat_template")) tmpl = j["chat_template"];
  }
  auto compile = [&](const std::string& name, const nlohmann::ordered_json& src) {
    if (!src.is_string())
      fail(ErrorKind::kFormat, dir, ": chat_template", name.empty() ? "" : " '" + name + "'",
           " must be a string");
    try {
      t.templates_.emplace_back(name, std::make_shared<ChatTemplate>(src.get<std::string>()));
    } catch (const Error& e) {
      throw Error(e.kind(), dir + ": chat_template" + (name.empty() ? "" : " '" + name + "'") +
                                ": " + e.what());
    }
  };
  if (tmpl.is_string()) {
    compile("default", tmpl);
  } else if (tmpl.is_array()) {
    for (const auto& entry : tmpl) {
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
          !entry.contains("template"))
        fail(ErrorKind::kFormat, dir, ": chat_template entries must be {name, template}");
      compile(entry["name"].get<std::string>(), entry["template"]);
    }
  } else if (!tmpl.is_null()) {
    fail(ErrorKind::kFormat, dir, ": chat_template must be a string or a list of {name, template}");
  }
  return t;
}

std::string AutoTokenizer::apply_chat_template(const nlohmann::ordered_json& messages,
                                               const ChatTemplateOptions& options) const {
  if (templates_.empty())
    fail(ErrorKind::kNotFound,
         "this tokenizer has no chat template (tokenizer_config.json has no chat_template)");
  if (!messages.is_array())
    fail(ErrorKind::kInvalidArgument, "apply_chat_template: messages must be a JSON array");
  std::string want = options.template_name;
  if (want.empty())
    want = options.tools.is_array() && !options.tools.empty() ? "tool_use" : "default";
  const ChatTemplate* chosen = nullptr;
  for (const auto& [name, tmpl] : templates_)
    if (name == want) chosen = tmpl.get();
  if (chosen == nullptr && options.template_name.empty()) {
    for (const auto& [name, tmpl] : templates_)
      if (name == "default") chosen = tmpl.get();
  }
  if (chosen == nullptr) {
    std::string known;
    for (const auto& [name, tmpl] : templates_) known += (known.empty() ? "" : ", ") + name;
    fail(ErrorKind::kNotFound, "no chat template named '", want, "' (known: ", known, ")");
  }
  // Variables as transformers passes them: special tokens, then messages, tools, documents,
  // add_generation_prompt, then the caller's extra kwargs.
  nlohmann::ordered_json vars = special_vars_;
  vars["messages"] = messages;
  vars["tools"] = options.tools;
  vars["documents"] = options.documents;
  vars["add_generation_prompt"] = options.add_generation_prompt;
  if (!options.extra.is_null()) {
    if (!options.extra.is_object())
      fail(ErrorKind::kInvalidArgument, "apply_chat_template: extra must be a JSON object");
    for (auto it = options.extra.begin(); it != options.extra.end(); ++it)
      vars[it.key()] = it.value();
  }
  return chosen->render(vars);
}

std::vector<int32_t> AutoTokenizer::apply_chat_template_ids(
    const nlohmann::ordered_json& messages, const ChatTemplateOptions& options) const {
  return tokenizer_->encode(apply_chat_template(messages, options), false);
}

std::optional<int32_t> AutoTokenizer::bos_token_id() const {
  return bos_token_ ? tokenizer_->token_to_id(*bos_token_) : std::nullopt;
}

std::optional<int32_t> AutoTokenizer::eos_token_id() const {
  return eos_token_ ? tokenizer_->token_to_id(*eos_token_) : std::nullopt;
}

}  // namespace khub
