// Signal flag for graceful interruption (interrupt.h). The handler touches only lock-free atomics
// and calls signal()/raise(), both async-signal-safe.
#include "train/interrupt.h"

#include <signal.h>

#include <atomic>

namespace khub {
namespace {

std::atomic<int> g_signal{0};         // first signal received, 0 when none
std::atomic<int> g_critical{0};       // open CriticalSections
std::atomic<int> g_deferred_exit{0};  // a forced-exit signal that arrived inside a section
static_assert(std::atomic<int>::is_always_lock_free);

void force_exit(int sig) {
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void on_signal(int sig) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) return;  // the first one: just note it
  if (g_critical.load() > 0) {
    g_deferred_exit.store(sig);
    return;
  }
  force_exit(sig);
}

// The handlers each live guard replaced, in a small stack so that guards nest. Guards are made
// and destroyed on the main thread, so the stack needs no lock.
struct SavedHandlers {
  struct sigaction sigint, sigterm;
};
constexpr int kMaxGuards = 8;
SavedHandlers g_saved[kMaxGuards];
int g_depth = 0;

}  // namespace

InterruptGuard::InterruptGuard() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking reads and writes resume instead of failing with EINTR
  SavedHandlers saved{};
  ::sigaction(SIGINT, &action, &saved.sigint);
  ::sigaction(SIGTERM, &action, &saved.sigterm);
  if (g_depth < kMaxGuards) g_saved[g_depth] = saved;
  ++g_depth;
  clear();
}

InterruptGuard::~InterruptGuard() {
  --g_depth;
  if (g_depth < kMaxGuards) {
    ::sigaction(SIGINT, &g_saved[g_depth].sigint, nullptr);
    ::sigaction(SIGTERM, &g_saved[g_depth].sigterm, nullptr);
  }
}

bool InterruptGuard::requested() { return g_signal.load() != 0; }
int InterruptGuard::signal_number() { return g_signal.load(); }
void InterruptGuard::clear() {
  g_signal.store(0);
  g_deferred_exit.store(0);
}

CriticalSection::CriticalSection() { g_critical.fetch_add(1); }

CriticalSection::~CriticalSection() {
  if (g_critical.fetch_sub(1) == 1) {
    int sig = g_deferred_exit.exchange(0);
    if (sig != 0) force_exit(sig);
  }
}

}  // namespace khub
