// The status a pointer-level launcher returns (tier 2 of a kernel, STYLE.md): no ABI types, no
// exceptions. The ABI binding maps it onto khub_status and copies the message.
#ifndef KHUB_CPU_STATUS_H_
#define KHUB_CPU_STATUS_H_

#include <cstdarg>
#include <cstdio>

namespace khub_cpu {

enum class Status { kOk = 0, kInvalidArgument, kUnsupported, kInternal };

// A fixed-size message buffer: launchers never allocate to report an error.
struct ErrorText {
  char text[480] = {0};

  Status set(Status status, const char* fmt, ...) __attribute__((format(printf, 3, 4))) {
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    return status;
  }
};

}  // namespace khub_cpu

#endif  // KHUB_CPU_STATUS_H_
