// The declarative definition of a khub command (docs/cli.md, docs/design.md §14): its name,
// summary, positionals and options, each option with its type, default and one example. One
// definition per command drives everything the CLI says about it: the parser (CLI11, args.h),
// `khub COMMAND --help`, `khub help --json`, the bash and zsh completion scripts, the
// nearest-option message, and the checks of Args (a command reads only options it declares, and an
// option with a declared default is read without a second, possibly different, fallback).
#pragma once

#include <string>
#include <vector>

namespace khub::cli {

class Args;

enum class OptType {
  kFlag,    // no value: present or not
  kText,    // any string
  kInt,     // an integer (checked when parsed)
  kNumber,  // a decimal number (checked when parsed)
  kList,    // comma-separated values ("1,8"; token ids "1,2,3;4,5")
  kPath,    // a file or directory (completed as a path)
  kChoice,  // one of `choices` (completed from them)
};

// "flag", "text", "integer", "number", "list", "path", "choice": the word --help prints.
const char* opt_type_name(OptType t);

struct OptionSpec {
  std::string name;  // the long name without "--"
  OptType type = OptType::kFlag;
  std::string value;    // the value's placeholder in help: DIR, N, REF (empty for flags)
  std::string help;     // one line: what it does
  std::string def;      // literal default that Args::get/get_int/get_double return when absent
  std::string def_doc;  // the default in words where it is computed ("the checkpoint's dtype")
  std::string example;  // one example value ("64" for --max-new-tokens 64); empty for flags
  std::vector<std::string> choices;  // kChoice: the accepted values (also completion candidates)
  bool repeatable = false;           // may be given several times (Args::all)

  // Builder steps, so that definitions read as one line each.
  OptionSpec&& with_default(std::string v) && {
    def = std::move(v);
    return std::move(*this);
  }
  OptionSpec&& default_doc(std::string v) && {
    def_doc = std::move(v);
    return std::move(*this);
  }
  OptionSpec&& eg(std::string v) && {
    example = std::move(v);
    return std::move(*this);
  }
  OptionSpec&& one_of(std::vector<std::string> v) && {
    choices = std::move(v);
    return std::move(*this);
  }
  OptionSpec&& many() && {
    repeatable = true;
    return std::move(*this);
  }
};

// An option taking a value: opt("max-new-tokens", OptType::kInt, "N", "tokens to generate").
OptionSpec opt(std::string name, OptType type, std::string value, std::string help);
// A flag: flag("json", "print one JSON object on stdout").
OptionSpec flag(std::string name, std::string help);

struct PositionalSpec {
  std::string name = {};  // REF, DIR, WHAT
  std::string help = {};
  bool optional = false;
  std::vector<std::string> choices = {};  // fixed words (completion candidates), e.g. a shell name
};

using CommandFn = int (*)(const Args& args);

struct CommandSpec {
  std::string name = {};      // "generate"; a subcommand's full path ("bench decode")
  std::string summary = {};   // one line for `khub --help`
  std::string synopsis = {};  // the usage line after "khub NAME " (e.g. "--model DIR [options]")
  std::string details = {};   // optional paragraph printed under the synopsis
  std::vector<PositionalSpec> positionals = {};
  std::vector<OptionSpec> options = {};  // without the options every command has (common_options())
  CommandFn run = nullptr;               // null when the command only groups subcommands
  std::vector<const CommandSpec*> subcommands = {};  // khub bench decode|kernels|train
  int max_positionals = 0;  // -1: any number; by default the number of positionals declared

  // The options this command accepts: its own, then common_options().
  std::vector<OptionSpec> all_options() const;
  const OptionSpec* find_option(const std::string& name) const;
  int positional_limit() const;
};

// Options every command accepts (the trust policy of every kernel load, --quiet for progress,
// --help).
const std::vector<OptionSpec>& common_options();

// a + b, for definitions that add a shared group (load_options(), ...) to their own options.
std::vector<OptionSpec> join(std::vector<OptionSpec> a, const std::vector<OptionSpec>& b);

}  // namespace khub::cli
