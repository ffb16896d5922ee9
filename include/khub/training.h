// Training (khub public API, docs/cpp-api.md; docs/design.md §10):
//   khub::TrainBatch, model->loss(batch) → khub::Loss; loss.backward() accumulates gradients on
//   model->parameters()
//   khub::AdamW, khub::SGD (step(), zero_grad()), khub::clip_grad_norm, khub::grad_norm
//   khub::LrSchedule (constant, cosine, warm-up)
#pragma once

#include "khub/models.h"
#include "models/training.h"
#include "train/grad_clip.h"
#include "train/optimizer.h"
#include "train/schedule.h"
