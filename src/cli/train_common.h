// What `khub train` and `khub grad` share: loading a model for training (the model-loading options,
// training mode, f32 master weights on the CPU, activation checkpointing) and gradient norms.
#pragma once

#include <memory>

#include "cli/args.h"
#include "core/tensor.h"
#include "models/causal_lm.h"

namespace khub::cli {

// Loads model_dir (--model unless given) with load_options_from_args, switches it to training mode
// (re-kernelizing for Mode::kTraining when kernels are on) and makes its parameters trainable.
// --dtype must be f32 (or absent) on the CPU: the CPU reference path trains f32 master weights
// whatever the checkpoint stores, and saves them back in the checkpoint's dtypes.
std::unique_ptr<CausalLM> load_model_for_training(const Args& args,
                                                  const std::string& model_dir = "");

// L2 norm of a tensor's f32 values, summed in double.
double l2_norm(const Tensor& t);

}  // namespace khub::cli
