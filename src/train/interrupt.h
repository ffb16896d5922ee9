// Graceful interruption of a training run (training, docs/design.md §10). While an
// InterruptGuard lives, SIGINT and SIGTERM only set a flag: the trainer polls requested() between
// steps, saves a checkpoint and exits. A checkpoint save in progress therefore always completes.
//
// A second signal while the first is still pending ends the process at once (the default action
// of that signal), for a run that hangs — unless a CriticalSection is open (save_checkpoint holds
// one): then the forced exit waits until the section closes, so even an impatient second Ctrl-C
// never leaves a half-written checkpoint (the on-disk layout is atomic anyway, see checkpoint.h;
// this spares the leftover temporary folder).
#pragma once

namespace khub {

class InterruptGuard {
 public:
  // Installs the handlers for SIGINT and SIGTERM and clears the flag; the destructor restores
  // the previous handlers. Guards nest (an inner one restores the outer one's handlers).
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // Whether a signal arrived since the guard was installed (or since clear()).
  static bool requested();
  static int signal_number();  // the first signal received; 0 when none
  static void clear();
};

// Marks a stretch of code (a checkpoint save) that a second signal must not cut short.
class CriticalSection {
 public:
  CriticalSection();
  ~CriticalSection();  // re-raises a forced-exit signal that arrived inside, once the last closes
  CriticalSection(const CriticalSection&) = delete;
  CriticalSection& operator=(const CriticalSection&) = delete;
};

}  // namespace khub
