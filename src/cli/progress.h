// Progress on long work (docs/cli.md, "Progress"): one line redrawn in place on stderr, only when
// stderr is a terminal — never on a pipe or a file — and not with --quiet. --json output goes to
// stdout and never carries progress. Downloads inside the hub client follow the same rule
// (hub/http/download.h Progress; main turns --quiet into HF_HUB_DISABLE_PROGRESS_BARS=1).
#pragma once

#include <chrono>
#include <string>

#include "cli/args.h"

namespace khub::cli {

// Whether this process may draw progress: stderr is a terminal, no --quiet (every command has
// it) and no HF_HUB_DISABLE_PROGRESS_BARS.
bool progress_enabled(const Args& args);

// "0:01:05"
std::string format_eta(double seconds);

class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  ~ProgressLine() { end(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }
  // Redraws the line (at most every 100 ms unless `force`).
  void show(const std::string& text, bool force = false);
  // Ends the line (a newline) so that the next output starts on its own line.
  void end();
  // Erases the line, before a result is printed on stdout (the same terminal).
  void clear();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace khub::cli
