// A command's parsed arguments: CLI11 parses argv against the command's definition (spec.h), then
// Args answers the command's questions. Accessors check the definition: reading an option the
// command does not declare, or passing a fallback for an option whose definition has a literal
// default, is a bug in khub (kInternal), so the definition stays the one source of truth.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/spec.h"

namespace khub::cli {

// A usage mistake on the command line (unknown option, missing value, not an integer, ...): the
// CLI prints it with a pointer to --help and exits 2.
struct UsageError {
  std::string message;
};

class Args {
 public:
  // Parses argv (the arguments after the command's name) against spec. Throws UsageError. Never
  // sees --help: main answers that before parsing (help_requested).
  static Args parse(const CommandSpec& spec, int argc, char** argv);

  const CommandSpec& spec() const { return *spec_; }
  bool has(const std::string& name) const;
  // The value, or the declared default; a missing value without default is a usage error
  // (kInvalidArgument, "missing required option --NAME").
  std::string get(const std::string& name) const;
  long long get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  // For options whose default is computed (no literal default in the definition).
  std::string get_or(const std::string& name, const std::string& fallback) const;
  long long get_int_or(const std::string& name, long long fallback) const;
  double get_double_or(const std::string& name, double fallback) const;
  // Every value of a repeatable option, in order.
  std::vector<std::string> all(const std::string& name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  const OptionSpec& declared(const std::string& name) const;
  bool has_computed_default(const std::string& name) const;  // has(), for the *_or accessors

  const CommandSpec* spec_ = nullptr;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positionals_;
};

// True when argv asks for help (-h or --help before any "--").
bool help_requested(int argc, char** argv);

// The candidate nearest to `word` by edit distance, or "" when none is close enough to be a
// likely typo.
std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates);

// "a,b,c" → {"a", "b", "c"} (an option's list value, e.g. --batches 1,8).
std::vector<std::string> split_list(const std::string& s, char sep);

}  // namespace khub::cli
