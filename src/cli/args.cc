#include "cli/args.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace khub::cli {
namespace {

bool is_int(const std::string& v) {
  char* end = nullptr;
  std::strtoll(v.c_str(), &end, 10);
  return !v.empty() && *end == '\0';
}

bool is_number(const std::string& v) {
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  return !v.empty() && *end == '\0';
}

// An argument CLI11 left over that looks like an option (not "-" and not a negative number).
bool looks_like_option(const std::string& a) {
  return a.size() > 1 && a[0] == '-' && !is_number(a);
}

std::string unknown_option_message(const CommandSpec& spec, const std::string& arg) {
  std::string name = arg.substr(0, arg.find('='));
  std::vector<std::string> names;
  for (const auto& o : spec.all_options()) names.push_back("--" + o.name);
  std::string near = nearest_name(name, names);
  std::string msg = "unknown option " + name;
  if (!near.empty()) msg += "; did you mean " + near + "?";
  return msg + " (khub " + spec.name + " --help lists every option)";
}

}  // namespace

Args Args::parse(const CommandSpec& spec, int argc, char** argv) {
  Args out;
  out.spec_ = &spec;
  CLI::App app{spec.summary, "khub " + spec.name};
  app.set_help_flag();  // main answers --help from the definition (help_requested)
  app.allow_extras(true);
  std::vector<std::pair<const OptionSpec*, CLI::Option*>> bound;
  const std::vector<OptionSpec> options = spec.all_options();
  for (const auto& o : options) {
    CLI::Option* p = nullptr;
    if (o.type == OptType::kFlag) {
      p = app.add_flag("--" + o.name);
    } else {
      p = app.add_option("--" + o.name)
              ->expected(1)
              ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
    bound.emplace_back(&o, p);
  }
  std::vector<std::string> positionals;
  app.add_option("positionals", positionals)->expected(0, 1 << 20);
  std::vector<std::string> reversed(argv, argv + argc);
  std::reverse(reversed.begin(), reversed.end());
  try {
    app.parse(reversed);
  } catch (const CLI::ArgumentMismatch& e) {
    for (const auto& [o, p] : bound) {
      if (p->count() == 0 && o->type != OptType::kFlag &&
          std::find(argv, argv + argc, "--" + o->name) != argv + argc) {
        throw UsageError{"option --" + o->name + " needs a value (e.g. --" + o->name + " " +
                         o->example + ")"};
      }
    }
    throw UsageError{e.what()};
  } catch (const CLI::ParseError& e) {
    throw UsageError{e.what()};
  }
  for (const std::string& extra : app.remaining()) {
    if (looks_like_option(extra)) throw UsageError{unknown_option_message(spec, extra)};
    positionals.push_back(extra);
  }
  const int limit = spec.positional_limit();
  if (limit >= 0 && static_cast<int>(positionals.size()) > limit) {
    std::string took;
    for (const auto& p : spec.positionals) took += " " + p.name;
    throw UsageError{"unexpected argument '" + positionals[limit] + "' (khub " + spec.name +
                     (limit == 0 ? " takes no positional arguments" : " takes" + took) + ")"};
  }
  for (const auto& [o, p] : bound) {
    if (p->count() == 0) continue;
    std::vector<std::string> v = o->type == OptType::kFlag ? std::vector<std::string>{"1"}
                                                           : std::vector<std::string>(p->results());
    for (const std::string& value : v) {
      if (o->type == OptType::kInt && !is_int(value)) {
        throw UsageError{"option --" + o->name + " expects an integer, got '" + value + "'"};
      }
      if (o->type == OptType::kNumber && !is_number(value)) {
        throw UsageError{"option --" + o->name + " expects a number, got '" + value + "'"};
      }
    }
    out.values_[o->name] = std::move(v);
  }
  out.positionals_ = std::move(positionals);
  return out;
}

const OptionSpec& Args::declared(const std::string& name) const {
  const OptionSpec* o = spec_->find_option(name);
  KHUB_ICHECK(o != nullptr, "khub ", spec_->name, " reads --", name,
              " but its definition does not declare it");
  return *o;
}

bool Args::has(const std::string& name) const {
  declared(name);
  return values_.count(name) > 0;
}

std::string Args::get(const std::string& name) const {
  const OptionSpec& o = declared(name);
  auto it = values_.find(name);
  if (it != values_.end()) return it->second.back();
  if (!o.def.empty()) return o.def;
  fail(ErrorKind::kInvalidArgument, "missing required option --", name);
}

long long Args::get_int(const std::string& name) const {
  KHUB_ICHECK(declared(name).type == OptType::kInt, "--", name, " is not an integer option");
  return std::strtoll(get(name).c_str(), nullptr, 10);
}

double Args::get_double(const std::string& name) const {
  KHUB_ICHECK(declared(name).type == OptType::kNumber, "--", name, " is not a number option");
  return std::strtod(get(name).c_str(), nullptr);
}

bool Args::has_computed_default(const std::string& name) const {
  const OptionSpec& o = declared(name);
  KHUB_ICHECK(o.def.empty(), "--", name, " has the declared default '", o.def,
              "'; read it with get(), not with a second fallback");
  return has(name);
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return has_computed_default(name) ? get(name) : fallback;
}

long long Args::get_int_or(const std::string& name, long long fallback) const {
  return has_computed_default(name) ? get_int(name) : fallback;
}

double Args::get_double_or(const std::string& name, double fallback) const {
  return has_computed_default(name) ? get_double(name) : fallback;
}

std::vector<std::string> Args::all(const std::string& name) const {
  declared(name);
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

bool help_requested(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--")) return false;
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) return true;
  }
  return false;
}

std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates) {
  // Levenshtein distance; a candidate is near when at most a third of the word (and at least one
  // or two characters) differs, or when one is a prefix of the other.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  if (best_d <= limit) return best;
  for (const auto& c : candidates) {
    if (word.size() >= 4 && (c.rfind(word, 0) == 0 || word.rfind(c, 0) == 0)) return c;
  }
  return "";
}

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) out.push_back(item);
  return out;
}

}  // namespace khub::cli
