// Learning-rate schedules (training, docs/design.md §10), as transformers' LambdaLR schedules
// compute them: get_constant_schedule_with_warmup and get_cosine_schedule_with_warmup.
//
// Step index: lr_at(k) is the rate of update number k, counted from 0 — the number of optimizer
// updates done before it. This is LambdaLR's `last_epoch` at the time of the update (the
// scheduler sets lambda(0) at construction and advances after each optimizer.step()), so with
// warmup the very first update uses lr 0, exactly as with the HF Trainer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace khub {

enum class LrScheduleKind {
  kConstant,  // base·k/warmup while k < warmup, then base
  kCosine,    // base·k/warmup while k < warmup, then base·0.5·(1 + cos(π·progress)),
              // progress = (k - warmup) / max(1, total - warmup)
};

struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::kConstant;
  double base_lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // cosine only: the step at which the rate reaches 0

  // Throws Error(kInvalidArgument) for negative steps, a cosine schedule without total_steps, or
  // warmup beyond total.
  void validate() const;
  // The rate of update k (0-based, see above). Past total_steps the cosine goes on as HF's does
  // (it is clamped at 0 only from below), so callers stop at total_steps.
  double lr_at(int64_t k) const;

  nlohmann::json to_json() const;  // {"kind": "cosine", "base_lr": ..., "warmup_steps": ...}
};

// "constant" or "cosine"; throws Error(kInvalidArgument) naming the value otherwise.
LrScheduleKind parse_lr_schedule_kind(std::string_view name);
std::string_view lr_schedule_kind_name(LrScheduleKind kind);

}  // namespace khub
