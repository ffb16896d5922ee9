// Models (khub public API, docs/cpp-api.md):
//   khub::AutoModelForCausalLM::from_pretrained(dir, LoadOptions)  loads a Hugging Face model
//       directory (config.json + safetensors) and, with .use_kernels, kernelizes it
//   khub::CausalLM       forward, make_cache, train()/eval(), parameters(), loss(batch),
//                        kernel_report()
//   khub::LoadOptions    device, dtype, use_kernels, kernel_config, attn_implementation, mode,
//                        strict
//   khub::write_random_checkpoint(InitModelOptions, dir)  a random-weight checkpoint of an arch
//                        and preset (what `khub init-model` writes)
#pragma once

#include "models/causal_lm.h"
#include "models/init_weights.h"
