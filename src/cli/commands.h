// The CLI's command registry: one definition (spec.h) per `khub <command>`, each defined with its
// implementation in cmd_<name>.cc; the definition's run gets the parsed arguments and returns the
// process exit code (0 ok, 1 failure, 2 usage).
#pragma once

#include <vector>

#include "cli/args.h"
#include "cli/spec.h"

namespace khub::cli {

// Every top-level command, alphabetical (main.cc).
const std::vector<const CommandSpec*>& all_commands();

// Declared here, defined in cmd_<name>.cc. Keep alphabetical.
const CommandSpec& bench_spec();
const CommandSpec& bench_train_spec();  // khub bench train (cmd_bench_train.cc)
const CommandSpec& build_spec();
const CommandSpec& chat_spec();
const CommandSpec& completion_spec();
const CommandSpec& download_spec();
const CommandSpec& forward_spec();
const CommandSpec& generate_spec();
const CommandSpec& grad_spec();
const CommandSpec& help_spec();
const CommandSpec& info_spec();
const CommandSpec& init_model_spec();
const CommandSpec& keygen_spec();
const CommandSpec& lock_spec();
const CommandSpec& publish_spec();
const CommandSpec& serve_spec();
const CommandSpec& sign_spec();
const CommandSpec& tokenize_spec();
const CommandSpec& train_spec();
const CommandSpec& verify_spec();
const CommandSpec& version_spec();
const CommandSpec& versions_spec();

}  // namespace khub::cli
