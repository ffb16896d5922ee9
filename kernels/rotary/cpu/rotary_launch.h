// Rotary position embedding, tier 2: the pointer-level launcher (ISA choice, heads split over
// threads). No ABI types, no exceptions.
#ifndef KHUB_ROTARY_LAUNCH_H_
#define KHUB_ROTARY_LAUNCH_H_

#include "khub_cpu/status.h"
#include "rotary_rows.h"

namespace khub_rotary {

using khub_cpu::ErrorText;
using khub_cpu::Status;

// Rotates args.q and args.k in place (by -theta when args.inverse).
template <typename T>
Status rotary_apply(const RotaryArgs<T>& args, int num_threads, ErrorText* error);

}  // namespace khub_rotary

#endif  // KHUB_ROTARY_LAUNCH_H_
