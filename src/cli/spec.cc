#include "cli/spec.h"

namespace khub::cli {

const char* opt_type_name(OptType t) {
  switch (t) {
    case OptType::kFlag:
      return "flag";
    case OptType::kText:
      return "text";
    case OptType::kInt:
      return "integer";
    case OptType::kNumber:
      return "number";
    case OptType::kList:
      return "list";
    case OptType::kPath:
      return "path";
    case OptType::kChoice:
      return "choice";
  }
  return "?";
}

OptionSpec opt(std::string name, OptType type, std::string value, std::string help) {
  OptionSpec o;
  o.name = std::move(name);
  o.type = type;
  o.value = std::move(value);
  o.help = std::move(help);
  return o;
}

OptionSpec flag(std::string name, std::string help) {
  OptionSpec o;
  o.name = std::move(name);
  o.type = OptType::kFlag;
  o.help = std::move(help);
  return o;
}

const std::vector<OptionSpec>& common_options() {
  static const std::vector<OptionSpec> kCommon = {
      opt("trust-policy", OptType::kPath, "FILE",
          "apply FILE on top of the trust policy layers (docs/kernel-hub.md §8)")
          .eg("policy.toml")
          .many(),
      flag("require-signed", "refuse every kernel that no trusted key signed"),
      flag("quiet", "no progress lines on the terminal (progress never goes to pipes)"),
      flag("help", "show this help (also -h) and exit 0"),
  };
  return kCommon;
}

std::vector<OptionSpec> CommandSpec::all_options() const { return join(options, common_options()); }

const OptionSpec* CommandSpec::find_option(const std::string& name) const {
  for (const auto& o : options) {
    if (o.name == name) return &o;
  }
  for (const auto& o : common_options()) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

int CommandSpec::positional_limit() const {
  return max_positionals != 0 ? max_positionals : static_cast<int>(positionals.size());
}

std::vector<OptionSpec> join(std::vector<OptionSpec> a, const std::vector<OptionSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace khub::cli
