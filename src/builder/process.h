// Running the compilers: argv vectors (no shell, so paths with spaces or quotes need no quoting),
// a working directory, and a small job pool. Child stdout goes to our stderr so that `khub build
// --json` keeps stdout for the report.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace khub::builder {

struct Command {
  std::vector<std::string> argv;
  std::filesystem::path cwd;  // empty: the current directory
  std::string label;          // shown in errors: "compile cpu/rmsnorm.cc"
};

// Runs commands, at most `jobs` at a time; waits for all started ones. Throws Error(kIo) naming the
// first failed command (with its command line) after the running ones finish. `on_done`, when set,
// hears of each command that finished well (the count so far and in all), for progress.
using CommandDoneFn = std::function<void(const Command& done, size_t finished, size_t total)>;
void run_commands(const std::vector<Command>& commands, int jobs,
                  const CommandDoneFn& on_done = nullptr);

// Runs one command and returns its stdout (its stderr is discarded); `*status` gets the exit
// status (-1 when it could not start). Never throws for a failing command.
std::string run_capture(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                        int* status);

// Searches PATH for an executable; "" when absent.
std::string find_program(const std::string& name);

std::string command_line(const std::vector<std::string>& argv);

}  // namespace khub::builder
