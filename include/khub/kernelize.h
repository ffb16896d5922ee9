// Kernelize (khub public API, docs/cpp-api.md; docs/design.md §8):
//   khub::KernelConfig   per-layer-key choices: a kernel reference, per-device references, or ""
//                        for the reference path; KernelConfig::from_file("cfg.json")
//   khub::Mode           inference, training, compile (mode_parse("inference,compile"))
//   khub::KernelReport   which kernel each layer key uses, or why not (table(), to_json())
#pragma once

#include "kernelize/kernel_config.h"
#include "kernelize/kernelize.h"
#include "kernelize/mode.h"
