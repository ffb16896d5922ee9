// khub CLI entry point: finds the command's definition (commands.h), answers --help from it, parses
// the arguments against it (args.h) and runs the command. Exit codes, the same for every command:
// 0 ok, 1 failure (every khub::Error but a caller's mistake), 2 usage (an unknown command or
// option, a missing or malformed value, a khub::Error of kind kInvalidArgument). Every error is
// one line on stderr naming the command.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/help.h"
#include "core/error.h"
#include "loader/trust_policy.h"

#ifndef KHUB_VERSION
#error "KHUB_VERSION must be defined by the build (src/cli/CMakeLists.txt)"
#endif

namespace khub::cli {

const std::vector<const CommandSpec*>& all_commands() {
  static const std::vector<const CommandSpec*> kCommands = {
      &bench_spec(),      &build_spec(),    &chat_spec(),  &completion_spec(), &download_spec(),
      &forward_spec(),    &generate_spec(), &grad_spec(),  &help_spec(),       &info_spec(),
      &init_model_spec(), &keygen_spec(),   &lock_spec(),  &publish_spec(),    &serve_spec(),
      &sign_spec(),       &tokenize_spec(), &train_spec(), &verify_spec(),     &version_spec(),
      &versions_spec(),
  };
  return kCommands;
}

namespace {

const CommandSpec* find_command(const std::vector<const CommandSpec*>& list,
                                const std::string& name, const std::string& prefix) {
  for (const CommandSpec* c : list) {
    if (c->name == prefix + name) return c;
  }
  return nullptr;
}

int unknown_command(const std::vector<const CommandSpec*>& list, const std::string& name,
                    const std::string& prefix) {
  std::vector<std::string> names;
  for (const CommandSpec* c : list) names.push_back(c->name.substr(prefix.size()));
  std::string near = nearest_name(name, names);
  std::fprintf(stderr, "khub: unknown command '%s%s'%s (khub %s--help lists them)\n",
               prefix.c_str(), name.c_str(),
               near.empty() ? "" : ("; did you mean '" + prefix + near + "'?").c_str(),
               prefix.c_str());
  return kExitUsage;
}

// The options of every command: the trust options apply to every kernel load (docs/kernel-hub.md
// §8); --quiet silences progress, the hub client's downloads included (it reads
// HF_HUB_DISABLE_PROGRESS_BARS, as huggingface_hub does).
void apply_common_options(const Args& args) {
  if (args.has("quiet")) setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1", 1);
  khub::loader::TrustOverrides o;
  o.require_signed = args.has("require-signed");
  for (const std::string& f : args.all("trust-policy")) o.files.push_back(f);
  khub::loader::set_trust_overrides(std::move(o));
}

int run(const CommandSpec& spec, int argc, char** argv) {
  try {
    Args args = Args::parse(spec, argc, argv);
    apply_common_options(args);
    return spec.run(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "khub %s: %s\n", spec.name.c_str(), e.message.c_str());
    return kExitUsage;
  } catch (const khub::Error& e) {
    std::fprintf(stderr, "khub %s: %s: %s\n", spec.name.c_str(),
                 std::string(khub::error_kind_name(e.kind())).c_str(), e.what());
    return e.kind() == khub::ErrorKind::kInvalidArgument ? kExitUsage : kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "khub %s: %s\n", spec.name.c_str(), e.what());
    return kExitFailure;
  }
}

}  // namespace

// khub help [COMMAND...] [--json]
int cmd_help(const Args& args) {
  if (args.has("json")) {
    std::printf("%s\n", definitions_json(all_commands()).dump(2).c_str());
    return kExitOk;
  }
  const auto& pos = args.positionals();
  if (pos.empty()) {
    std::fputs(main_help(all_commands()).c_str(), stdout);
    return kExitOk;
  }
  const CommandSpec* c = find_command(all_commands(), pos[0], "");
  if (!c) return unknown_command(all_commands(), pos[0], "");
  if (pos.size() > 1 && !c->subcommands.empty()) {
    const CommandSpec* s = find_command(c->subcommands, pos[1], c->name + " ");
    if (!s) return unknown_command(c->subcommands, pos[1], c->name + " ");
    c = s;
  }
  std::fputs(command_help(*c).c_str(), stdout);
  return kExitOk;
}

const CommandSpec& help_spec() {
  static const CommandSpec s{
      .name = "help",
      .summary = "a command's options (same as khub COMMAND --help), or all definitions as JSON",
      .synopsis = "[COMMAND [WHAT]] [--json]",
      .positionals = {{"COMMAND", "the command to describe (bench takes WHAT too)", true}},
      .options = {flag("json",
                       "print every command's definition (options, types, defaults, "
                       "examples) as JSON")},
      .run = cmd_help,
      .max_positionals = 2};
  return s;
}

// khub completion bash|zsh
int cmd_completion(const Args& args) {
  const auto& pos = args.positionals();
  KHUB_CHECK_ARG(pos.size() == 1 && (pos[0] == "bash" || pos[0] == "zsh"),
                 "khub completion: expected the shell, bash or zsh");
  std::fputs(pos[0] == "bash" ? bash_completion(all_commands()).c_str()
                              : zsh_completion(all_commands()).c_str(),
             stdout);
  return kExitOk;
}

const CommandSpec& completion_spec() {
  static const CommandSpec s{
      .name = "completion",
      .summary = "print the bash or zsh completion script (generated from these definitions)",
      .synopsis = "bash|zsh",
      .positionals = {{"SHELL", "bash or zsh", false, {"bash", "zsh"}}},
      .run = cmd_completion};
  return s;
}

int cmd_version(const Args&) {
  std::printf("khub %s\n", KHUB_VERSION);
  return kExitOk;
}

const CommandSpec& version_spec() {
  static const CommandSpec s{.name = "version",
                             .summary = "print the khub version (also khub --version)",
                             .run = cmd_version};
  return s;
}

}  // namespace khub::cli

int main(int argc, char** argv) {
  using namespace khub::cli;
  if (argc < 2) {
    std::fputs(main_help(all_commands()).c_str(), stderr);
    return kExitUsage;
  }
  const std::string first = argv[1];
  if (first == "--help" || first == "-h") {
    std::fputs(main_help(all_commands()).c_str(), stdout);
    return kExitOk;
  }
  if (first == "--version") {
    std::printf("khub %s\n", KHUB_VERSION);
    return kExitOk;
  }
  const CommandSpec* spec = find_command(all_commands(), first, "");
  if (!spec) return unknown_command(all_commands(), first, "");
  int rest = argc - 2;
  char** args = argv + 2;
  if (!spec->subcommands.empty()) {
    if (rest == 0 || help_requested(1, args)) {
      std::fputs(command_help(*spec).c_str(), rest == 0 ? stderr : stdout);
      return rest == 0 ? kExitUsage : kExitOk;
    }
    const CommandSpec* sub = find_command(spec->subcommands, args[0], spec->name + " ");
    if (!sub) return unknown_command(spec->subcommands, args[0], spec->name + " ");
    spec = sub;
    --rest;
    ++args;
  }
  if (help_requested(rest, args)) {
    std::fputs(command_help(*spec).c_str(), stdout);
    return kExitOk;
  }
  return run(*spec, rest, args);
}
