// Fault injection for `khub serve --faults SPEC` (or KHUB_SERVE_FAULTS), used by the tests to
// reproduce what real networks and hostile hubs do. SPEC is a comma-separated list of rules
//   ACTION[=ARG][@KIND][~SUBSTRING][#COUNT]
// ACTION:  429=S | 503=S   answer that status with Retry-After: S (default 1)
//          500 | 502 | 404 answer that status
//          drop=N          send N bytes of a file body, then close the connection
//          truncate=N      answer with only the first N bytes (Content-Length N)
//          corrupt=N       flip the byte at offset N (default: the middle) of a file body
//          slow=MS         wait MS milliseconds before answering
//          throttle=BPS    send file bodies at most BPS bytes per second
//          stall=MS        after the first 256 KiB chunk of a file body, send nothing for MS ms
//          hostile=NAME    add a hostile entry to tree listings: dotdot, absolute, nul,
//                          backslash, dup, or all
// KIND:    which requests: file (resolve and LFS downloads; default for body faults), tree
//          (default for hostile), info, refs, upload, any (default for statuses and slow)
// ~SUBSTRING: only requests whose path contains it;  #COUNT: only the first COUNT matching
// requests (default: all). Example: "429=1@file#3,drop=65536@file~lib.so#1,hostile=dotdot".
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace khub::serve {

struct FaultRule {
  enum class Action { kStatus, kDrop, kTruncate, kCorrupt, kSlow, kThrottle, kStall, kHostile };
  Action action = Action::kStatus;
  int status = 0;
  int retry_after = -1;
  uint64_t bytes = 0;  // drop / truncate / corrupt offset / throttle rate
  bool has_bytes = false;
  int delay_ms = 0;
  std::string hostile;  // dotdot, absolute, nul, backslash, dup, all
  std::string kind;     // file, tree, info, refs, upload, any
  std::string substring;
  int remaining = -1;  // -1 = unlimited
  std::string text;    // the rule as written, for logs
};

// What applies to one request, after matching every rule.
struct FaultDecision {
  std::optional<FaultRule> status;  // answer this status instead
  std::optional<FaultRule> body;    // drop / truncate / corrupt
  int delay_ms = 0;
  uint64_t throttle_bps = 0;
  int stall_ms = 0;
  std::vector<std::string> hostile;  // hostile entries to add to a tree listing
  std::string applied;               // the rules that fired, for the request log
};

class FaultPlan {
 public:
  FaultPlan() = default;
  // Throws khub::Error(kInvalidArgument) naming the bad rule.
  explicit FaultPlan(const std::string& spec);
  void set(const std::string& spec);
  bool empty() const;
  // Matches the rules against a request (kind: file, tree, info, refs, upload, other) and counts
  // down the ones that fire. Statuses, delays and hostile listings are decided when the request
  // arrives (body = false); body faults only when bytes of a file are about to be sent (body =
  // true), so that e.g. "#1" counts the LFS download and not the redirect before it.
  FaultDecision decide(const std::string& kind, const std::string& path, bool is_head,
                       bool body = false);

 private:
  mutable std::mutex mu_;
  std::vector<FaultRule> rules_;
};

}  // namespace khub::serve
