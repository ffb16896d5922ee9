// What the CLI says about its commands, all of it generated from the definitions (spec.h):
// `khub --help`, `khub COMMAND --help`, `khub help --json` (the definitions as data, for tools and
// for the test that compares --help with them) and the bash and zsh completion scripts.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/spec.h"

namespace khub::cli {

// The exit codes every command keeps (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

std::string main_help(const std::vector<const CommandSpec*>& commands);
std::string command_help(const CommandSpec& spec);
nlohmann::ordered_json definitions_json(const std::vector<const CommandSpec*>& commands);
std::string bash_completion(const std::vector<const CommandSpec*>& commands);
std::string zsh_completion(const std::vector<const CommandSpec*>& commands);

}  // namespace khub::cli
