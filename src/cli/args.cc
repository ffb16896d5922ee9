#include "cli/args.h"

#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace khub::cli {

Args::Args(int argc, char** argv, const std::set<std::string>& flags) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      positionals_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      options_[name.substr(0, eq)] = name.substr(eq + 1);
    } else if (flags.count(name)) {
      options_[name] = "1";
    } else {
      if (i + 1 >= argc) fail(ErrorKind::kInvalidArgument, "option --", name, " needs a value");
      options_[name] = argv[++i];
    }
  }
}

bool Args::has(const std::string& name) const { return options_.count(name) > 0; }

std::string Args::get(const std::string& name) const {
  auto it = options_.find(name);
  if (it == options_.end()) fail(ErrorKind::kInvalidArgument, "missing required option --", name);
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  auto it = options_.find(name);
  return it == options_.end() ? fallback : it->second;
}

long long Args::get_int_or(const std::string& name, long long fallback) const {
  auto it = options_.find(name);
  if (it == options_.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0') {
    fail(ErrorKind::kInvalidArgument, "option --", name, " expects an integer, got '", it->second,
         "'");
  }
  return v;
}

double Args::get_double_or(const std::string& name, double fallback) const {
  auto it = options_.find(name);
  if (it == options_.end()) return fallback;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0') {
    fail(ErrorKind::kInvalidArgument, "option --", name, " expects a number, got '", it->second,
         "'");
  }
  return v;
}

void Args::reject_unknown(const std::set<std::string>& known) const {
  for (const auto& [k, v] : options_) {
    if (!known.count(k)) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "--" : ", --") + n;
      fail(ErrorKind::kInvalidArgument, "unknown option --", k, " (this command takes ", list, ")");
    }
  }
}

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) out.push_back(item);
  return out;
}

}  // namespace khub::cli
