// khub's public C++ API, all of it (docs/cpp-api.md): one include for a program that loads models
// with kernels, generates, trains, or gets a hub kernel and calls it on tensors. Installed by
// `cmake --install` under PREFIX/include/khub/; `find_package(khub CONFIG)` + `khub::khub`, or
// `pkg-config --cflags --libs khub`. The topic headers below can be included on their own.
#pragma once

#include "khub/generation.h"
#include "khub/hub.h"
#include "khub/kernelize.h"
#include "khub/models.h"
#include "khub/tensor.h"
#include "khub/tokenizer.h"
#include "khub/training.h"
