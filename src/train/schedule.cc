// Learning-rate schedules (schedule.h): the formulas of transformers' optimization.py.
#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace khub {

void LrSchedule::validate() const {
  KHUB_CHECK_ARG(std::isfinite(base_lr) && base_lr >= 0, "lr schedule: base lr ", base_lr,
                 " is invalid (expected a finite value >= 0)");
  KHUB_CHECK_ARG(warmup_steps >= 0, "lr schedule: warmup steps ", warmup_steps, " is negative");
  if (kind == LrScheduleKind::kCosine) {
    KHUB_CHECK_ARG(total_steps > 0, "lr schedule: cosine needs the total number of steps (got ",
                   total_steps, ")");
    KHUB_CHECK_ARG(warmup_steps <= total_steps, "lr schedule: warmup steps ", warmup_steps,
                   " exceed the total steps ", total_steps);
  }
}

double LrSchedule::lr_at(int64_t k) const {
  KHUB_CHECK_ARG(k >= 0, "lr schedule: step ", k, " is negative");
  if (k < warmup_steps) {
    // LambdaLR multiplies the base rate by the lambda's value: base · (k / warmup).
    return base_lr *
           (static_cast<double>(k) / static_cast<double>(std::max<int64_t>(1, warmup_steps)));
  }
  if (kind == LrScheduleKind::kConstant) return base_lr;
  const double progress = static_cast<double>(k - warmup_steps) /
                          static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
}

nlohmann::json LrSchedule::to_json() const {
  return {{"kind", lr_schedule_kind_name(kind)},
          {"base_lr", base_lr},
          {"warmup_steps", warmup_steps},
          {"total_steps", total_steps}};
}

LrScheduleKind parse_lr_schedule_kind(std::string_view name) {
  if (name == "constant") return LrScheduleKind::kConstant;
  if (name == "cosine") return LrScheduleKind::kCosine;
  fail(ErrorKind::kInvalidArgument, "unknown lr schedule '", name,
       "' (expected constant or cosine)");
}

std::string_view lr_schedule_kind_name(LrScheduleKind kind) {
  return kind == LrScheduleKind::kCosine ? "cosine" : "constant";
}

}  // namespace khub
