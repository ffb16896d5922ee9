// When a kernel writes its output with non-temporal (streaming) stores: once the output is larger
// than caches hold, so the next op would read it from DRAM anyway. Streaming stores skip the read
// for ownership a normal store of a missing line costs: a third less DRAM traffic for a copy-like
// kernel. KHUB_CPU_STREAM_MIN_BYTES overrides the size (tests set 0 to run the streaming path).
#ifndef KHUB_CPU_STREAMING_H_
#define KHUB_CPU_STREAMING_H_

#include <cstdint>

#include "khub_env.h"

namespace khub_cpu {

inline bool stream_output(int64_t output_bytes) {
  // Read at every call: tests change it between calls.
  const int64_t min_bytes =
      khub_env::integer("KHUB_CPU_STREAM_MIN_BYTES", int64_t{24} << 20, 0, INT64_MAX);
  return output_bytes >= min_bytes;
}

}  // namespace khub_cpu

#endif  // KHUB_CPU_STREAMING_H_
