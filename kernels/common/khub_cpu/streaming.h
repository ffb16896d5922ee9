// When a kernel writes its output with non-temporal (streaming) stores: once the output is larger
// than caches hold, so the next op would read it from DRAM anyway. Streaming stores skip the read
// for ownership a normal store of a missing line costs: a third less DRAM traffic for a copy-like
// kernel. KHUB_CPU_STREAM_MIN_BYTES overrides the size (tests set 0 to run the streaming path).
#ifndef KHUB_CPU_STREAMING_H_
#define KHUB_CPU_STREAMING_H_

#include <cstdint>
#include <cstdlib>

namespace khub_cpu {

inline bool stream_output(int64_t output_bytes) {
  int64_t min_bytes = int64_t{24} << 20;
  if (const char* env = std::getenv("KHUB_CPU_STREAM_MIN_BYTES")) {
    char* end = nullptr;
    long long v = std::strtoll(env, &end, 10);
    if (end != env && v >= 0) min_bytes = v;
  }
  return output_bytes >= min_bytes;
}

}  // namespace khub_cpu

#endif  // KHUB_CPU_STREAMING_H_
