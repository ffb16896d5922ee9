#include "cli/help.h"

#include <sstream>

namespace khub::cli {
namespace {

const char* kExitCodes = "exit codes: 0 ok, 1 failure, 2 usage error (docs/cli.md)\n";

// "integer, default 32, e.g. --max-new-tokens 64": the line under an option's description.
std::string option_facts(const OptionSpec& o) {
  std::string s = opt_type_name(o.type);
  if (o.type == OptType::kChoice) {
    std::string c;
    for (const auto& v : o.choices) c += (c.empty() ? "" : "|") + v;
    s += " (" + c + ")";
  }
  if (o.type == OptType::kFlag) {
    s += ", default off";
  } else if (!o.def.empty()) {
    s += ", default " + o.def;
  } else if (o.def_doc == "required") {
    s += ", required";
  } else if (!o.def_doc.empty()) {
    s += ", default: " + o.def_doc;
  } else {
    s += ", default: unset";
  }
  if (o.repeatable) s += ", repeatable";
  s += ", e.g. --" + o.name + (o.type == OptType::kFlag ? "" : " " + o.example);
  return s;
}

}  // namespace

std::string main_help(const std::vector<const CommandSpec*>& commands) {
  std::ostringstream os;
  os << "usage: khub COMMAND [options]   (khub COMMAND --help lists a command's options)\n"
     << "       khub --version\n\ncommands:\n";
  for (const CommandSpec* c : commands) {
    os << "  ";
    os.width(12);
    os << std::left << c->name << " " << c->summary << "\n";
  }
  os << "\noptions of every command:\n";
  for (const auto& o : common_options()) {
    os << "  --" << o.name << (o.value.empty() ? "" : " " + o.value) << "  " << o.help << "\n";
  }
  os << "\n" << kExitCodes;
  return os.str();
}

std::string command_help(const CommandSpec& spec) {
  std::ostringstream os;
  os << "usage: khub " << spec.name << (spec.synopsis.empty() ? "" : " " + spec.synopsis) << "\n\n"
     << spec.summary << "\n";
  if (!spec.details.empty()) os << "\n" << spec.details << "\n";
  if (!spec.subcommands.empty()) {
    os << "\ncommands (khub " << spec.name << " WHAT --help lists its options):\n";
    for (const CommandSpec* c : spec.subcommands) {
      std::string leaf = c->name.substr(c->name.rfind(' ') + 1);
      os << "  ";
      os.width(10);
      os << std::left << leaf << " " << c->summary << "\n";
    }
  }
  if (!spec.positionals.empty()) {
    os << "\narguments:\n";
    for (const auto& p : spec.positionals) {
      os << "  " << p.name << (p.optional ? " (optional)" : "") << "\n      " << p.help << "\n";
    }
  }
  if (!spec.subcommands.empty()) return os.str() + "\n" + kExitCodes;
  os << "\noptions:\n";
  for (const auto& o : spec.all_options()) {
    os << "  --" << o.name << (o.value.empty() ? "" : " " + o.value) << "\n      " << o.help
       << "\n      " << option_facts(o) << "\n";
  }
  os << "\n" << kExitCodes;
  return os.str();
}

nlohmann::ordered_json definitions_json(const std::vector<const CommandSpec*>& commands) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  std::vector<const CommandSpec*> all;
  for (const CommandSpec* c : commands) {
    all.push_back(c);
    all.insert(all.end(), c->subcommands.begin(), c->subcommands.end());
  }
  for (const CommandSpec* c : all) {
    nlohmann::ordered_json j = {{"name", c->name}, {"summary", c->summary}};
    j["positionals"] = nlohmann::ordered_json::array();
    for (const auto& p : c->positionals) {
      j["positionals"].push_back({{"name", p.name}, {"optional", p.optional}, {"help", p.help}});
    }
    j["max_positionals"] = c->positional_limit();
    j["subcommands"] = nlohmann::ordered_json::array();
    for (const CommandSpec* s : c->subcommands) j["subcommands"].push_back(s->name);
    j["options"] = nlohmann::ordered_json::array();
    for (const auto& o : c->all_options()) {
      j["options"].push_back({{"name", o.name},
                              {"type", opt_type_name(o.type)},
                              {"value", o.value},
                              {"default", o.def},
                              {"default_doc", o.def_doc},
                              {"example", o.example},
                              {"choices", o.choices},
                              {"repeatable", o.repeatable},
                              {"help", o.help}});
    }
    out.push_back(j);
  }
  return out;
}

}  // namespace khub::cli
