#include "serve/faults.h"

#include <cstdlib>

#include "core/error.h"

namespace khub::serve {
namespace {

uint64_t parse_number(const std::string& s, const std::string& rule) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') {
    fail(ErrorKind::kInvalidArgument, "fault rule '", rule, "': '", s, "' is not a number");
  }
  return v;
}

FaultRule parse_rule(const std::string& text) {
  FaultRule r;
  r.text = text;
  std::string s = text;
  if (auto p = s.find('#'); p != std::string::npos) {
    r.remaining = static_cast<int>(parse_number(s.substr(p + 1), text));
    s = s.substr(0, p);
  }
  if (auto p = s.find('~'); p != std::string::npos) {
    r.substring = s.substr(p + 1);
    s = s.substr(0, p);
  }
  if (auto p = s.find('@'); p != std::string::npos) {
    r.kind = s.substr(p + 1);
    s = s.substr(0, p);
    if (r.kind != "file" && r.kind != "tree" && r.kind != "info" && r.kind != "refs" &&
        r.kind != "upload" && r.kind != "any") {
      fail(ErrorKind::kInvalidArgument, "fault rule '", text, "': unknown request kind '", r.kind,
           "' (expected file, tree, info, refs, upload, any)");
    }
  }
  std::string action = s, arg;
  if (auto p = s.find('='); p != std::string::npos) {
    action = s.substr(0, p);
    arg = s.substr(p + 1);
  }
  using A = FaultRule::Action;
  if (action == "429" || action == "503" || action == "500" || action == "502" || action == "404") {
    r.action = A::kStatus;
    r.status = std::atoi(action.c_str());
    if (r.status == 429 || r.status == 503)
      r.retry_after = arg.empty() ? 1 : parse_number(arg, text);
    if (r.kind.empty()) r.kind = "any";
  } else if (action == "drop" || action == "truncate" || action == "corrupt") {
    r.action = action == "drop" ? A::kDrop : action == "truncate" ? A::kTruncate : A::kCorrupt;
    if (!arg.empty()) {
      r.bytes = parse_number(arg, text);
      r.has_bytes = true;
    } else if (action != "corrupt") {
      fail(ErrorKind::kInvalidArgument, "fault rule '", text, "': ", action,
           " needs a byte count (", action, "=N)");
    }
    if (r.kind.empty()) r.kind = "file";
  } else if (action == "slow") {
    r.action = A::kSlow;
    r.delay_ms = static_cast<int>(parse_number(arg, text));
    if (r.kind.empty()) r.kind = "any";
  } else if (action == "throttle") {
    r.action = A::kThrottle;
    r.bytes = parse_number(arg, text);
    if (r.bytes == 0) fail(ErrorKind::kInvalidArgument, "fault rule '", text, "': rate 0");
    if (r.kind.empty()) r.kind = "file";
  } else if (action == "stall") {
    r.action = A::kStall;
    r.delay_ms = static_cast<int>(parse_number(arg, text));
    if (r.kind.empty()) r.kind = "file";
  } else if (action == "hostile") {
    r.action = A::kHostile;
    r.hostile = arg.empty() ? "all" : arg;
    if (r.hostile != "dotdot" && r.hostile != "absolute" && r.hostile != "nul" &&
        r.hostile != "backslash" && r.hostile != "dup" && r.hostile != "all") {
      fail(ErrorKind::kInvalidArgument, "fault rule '", text, "': unknown hostile name kind '",
           r.hostile, "' (expected dotdot, absolute, nul, backslash, dup, all)");
    }
    if (r.kind.empty()) r.kind = "tree";
  } else {
    fail(ErrorKind::kInvalidArgument, "unknown fault '", action, "' in '", text,
         "' (expected 429, 503, 500, 502, 404, drop, truncate, corrupt, slow, throttle, stall, "
         "hostile)");
  }
  return r;
}

}  // namespace

FaultPlan::FaultPlan(const std::string& spec) { set(spec); }

void FaultPlan::set(const std::string& spec) {
  std::vector<FaultRule> rules;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    std::string part = spec.substr(start, end - start);
    if (!part.empty()) rules.push_back(parse_rule(part));
    start = end + 1;
  }
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = std::move(rules);
}

bool FaultPlan::empty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rules_.empty();
}

FaultDecision FaultPlan::decide(const std::string& kind, const std::string& path, bool is_head,
                                bool body) {
  FaultDecision d;
  std::lock_guard<std::mutex> lock(mu_);
  using A = FaultRule::Action;
  for (auto& r : rules_) {
    if (r.remaining == 0) continue;
    if (r.kind != "any" && r.kind != kind) continue;
    if (!r.substring.empty() && path.find(r.substring) == std::string::npos) continue;
    bool body_fault = r.action == A::kDrop || r.action == A::kTruncate || r.action == A::kCorrupt ||
                      r.action == A::kThrottle || r.action == A::kStall;
    if (body_fault != body) continue;
    if (body_fault && is_head) continue;  // HEAD answers carry no body to damage
    if (r.action == A::kStatus && d.status) continue;
    if ((r.action == A::kDrop || r.action == A::kTruncate || r.action == A::kCorrupt) && d.body) {
      continue;
    }
    switch (r.action) {
      case A::kStatus:
        d.status = r;
        break;
      case A::kDrop:
      case A::kTruncate:
      case A::kCorrupt:
        d.body = r;
        break;
      case A::kSlow:
        d.delay_ms += r.delay_ms;
        break;
      case A::kThrottle:
        d.throttle_bps = r.bytes;
        break;
      case A::kStall:
        d.stall_ms = r.delay_ms;
        break;
      case A::kHostile:
        if (r.hostile == "all") {
          for (const char* h : {"dotdot", "absolute", "nul", "backslash", "dup"}) {
            d.hostile.push_back(h);
          }
        } else {
          d.hostile.push_back(r.hostile);
        }
        break;
    }
    if (r.remaining > 0) --r.remaining;
    d.applied += (d.applied.empty() ? "" : ",") + r.text;
  }
  return d;
}

}  // namespace khub::serve
