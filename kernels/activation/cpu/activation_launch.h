// Gated activations, tier 2: pointer-level launchers (ISA choice, row split over threads). No ABI
// types, no exceptions.
#ifndef KHUB_ACTIVATION_LAUNCH_H_
#define KHUB_ACTIVATION_LAUNCH_H_

#include "activation_rows.h"
#include "khub_cpu/status.h"

namespace khub_activation {

using khub_cpu::ErrorText;
using khub_cpu::Status;

template <typename T>
Status activation_forward(const ForwardArgs<T>& args, int num_threads, ErrorText* error);

template <typename T>
Status activation_backward(const BackwardArgs<T>& args, int num_threads, ErrorText* error);

}  // namespace khub_activation

#endif  // KHUB_ACTIVATION_LAUNCH_H_
