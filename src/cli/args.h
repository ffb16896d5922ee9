// A small argument parser shared by the CLI commands: `--name value`, `--name=value`, `--flag`,
// and positionals. Unknown or missing options are user errors that name the option.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace khub::cli {

class Args {
 public:
  // flags: options that take no value (e.g. "json", "greedy").
  Args(int argc, char** argv, const std::set<std::string>& flags);

  bool has(const std::string& name) const;
  std::string get(const std::string& name) const;  // throws if missing
  std::string get_or(const std::string& name, const std::string& fallback) const;
  long long get_int_or(const std::string& name, long long fallback) const;
  double get_double_or(const std::string& name, double fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  // Throws when an option outside `known` was given (call after reading the options you accept).
  void reject_unknown(const std::set<std::string>& known) const;

 private:
  std::map<std::string, std::string> options_;
  std::vector<std::string> positionals_;
};

// "a,b,c" → {"a", "b", "c"} (an option's list value, e.g. --batches 1,8).
std::vector<std::string> split_list(const std::string& s, char sep);

}  // namespace khub::cli
