// Generation (khub public API, docs/cpp-api.md):
//   khub::generate(model, prompts, GenerationOptions) → GenerationResult (tokens per prompt,
//   prefill and decode timings); greedy or sampled (SamplingOptions: temperature, top-k, top-p,
//   min-p, repetition penalty), stop and end-of-sequence ids, a per-token callback.
#pragma once

#include "khub/models.h"
#include "models/generation.h"
