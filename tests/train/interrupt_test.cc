// The interrupt flag: a signal under an InterruptGuard only sets the flag; a second one ends the
// process unless a CriticalSection (a checkpoint save) is open, in which case it waits for it.
// Death tests use the default "fast" style (fork, no re-exec): a re-executed child would create
// testutil's global temp folder and, killed by the signal, never remove it.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "train/interrupt.h"

namespace khub {
namespace {

TEST(Interrupt, SignalSetsTheFlagAndHandlersAreRestored) {
  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  {
    InterruptGuard guard;
    EXPECT_FALSE(InterruptGuard::requested());
    raise(SIGINT);  // would end the test binary without the guard
    EXPECT_TRUE(InterruptGuard::requested());
    EXPECT_EQ(InterruptGuard::signal_number(), SIGINT);
    InterruptGuard::clear();
    EXPECT_FALSE(InterruptGuard::requested());
    raise(SIGTERM);
    EXPECT_EQ(InterruptGuard::signal_number(), SIGTERM);
  }
  struct sigaction after {};
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

TEST(InterruptDeathTest, SecondSignalEndsTheProcess) {
  EXPECT_EXIT(
      {
        InterruptGuard guard;
        raise(SIGTERM);
        raise(SIGTERM);
        std::fprintf(stderr, "survived\n");
        _exit(0);
      },
      ::testing::KilledBySignal(SIGTERM), "");
}

TEST(InterruptDeathTest, SecondSignalWaitsForTheCriticalSection) {
  EXPECT_EXIT(
      {
        InterruptGuard guard;
        raise(SIGINT);
        {
          CriticalSection save;
          raise(SIGINT);
          std::fprintf(stderr, "save finished\n");
        }
        std::fprintf(stderr, "after the section\n");
        _exit(0);
      },
      ::testing::KilledBySignal(SIGINT), "save finished");
}

}  // namespace
}  // namespace khub
