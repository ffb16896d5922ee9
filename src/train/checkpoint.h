// Training checkpoints (training, docs/design.md §10): a Hugging Face model folder that
// transformers and khub load as any other, plus what resuming needs.
//
//   <out_dir>/model.safetensors            the weights under the SOURCE checkpoint's names, dtypes
//     or model.safetensors.index.json      and layout (one file, or the same shards with the same
//        + model-0000k-of-0000N.safetensors tensor → file assignment); each f32 parameter is cast
//                                          to the source dtype, rounding to nearest even
//   <out_dir>/config.json, tokenizer.json, every other top-level file of the source folder,
//                                          copied (not the source's weights or training state)
//   <out_dir>/optimizer.safetensors        the optimizer state (Optimizer::state() names) and, for
//                                          every parameter saved in a dtype other than f32, its f32
//                                          master copy "master.<name>"; metadata: optimizer, step
//   <out_dir>/trainer_state.json           the caller's object plus "format", "khub_version",
//                                          "optimizer" (Optimizer::config()), "optimizer_step"
//
// Atomic replacement: everything is written and fsync'ed into the sibling <out_dir>.tmp-<pid>,
// then swapped in. On Linux the swap is one renameat2(RENAME_EXCHANGE) (then the old copy, now
// under the temporary name, is removed); where the filesystem lacks it, it is two renames:
// <out_dir> → <out_dir>.old-<pid>, then the temporary folder → <out_dir>, then the old one is
// removed. Between those two renames <out_dir> is missing for an instant, and the .old folder
// holds the previous good checkpoint: recover_checkpoint_dir() (called by save_checkpoint and
// load_checkpoint, and by a trainer on start) renames it back. On any failure before the swap
// (ENOSPC, a write error, an exception) the temporary folder is removed, the previous checkpoint
// is untouched, and the error names the path. A save runs inside a CriticalSection
// (interrupt.h), so a second Ctrl-C does not cut it short.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/parameters.h"
#include "train/optimizer.h"

namespace khub {

inline constexpr std::string_view kTrainerStateFile = "trainer_state.json";
inline constexpr std::string_view kOptimizerStateFile = "optimizer.safetensors";
inline constexpr std::string_view kCheckpointFormat = "khub-training-checkpoint-1";

// Writes the checkpoint described above. source_model_dir is the folder the model was loaded
// from (it may be out_dir itself when a resumed run saves over its checkpoint). trainer_state is
// a JSON object of the caller's (e.g. {"step": 100, "data": DataPosition::to_json(),
// "hyperparameters": {...}, "rng": ...}); the keys listed above are added.
// Throws Error(kInvalidArgument) when out_dir exists, is not empty and is not a khub training
// checkpoint (it is never replaced then), or when a parameter is not in the source checkpoint or
// has another shape there; Error(kIo) naming the path for a failed write.
void save_checkpoint(const std::filesystem::path& out_dir,
                     const std::filesystem::path& source_model_dir,
                     const std::vector<Parameter>& params, const Optimizer& optimizer,
                     const nlohmann::json& trainer_state);

// For --resume: params are the model's, already loaded (from dir or from the original model);
// optimizer is one of the kind the checkpoint was written with (make_optimizer on
// trainer_state["optimizer"] builds it). Restores each parameter from its master copy when there
// is one, else from dir's model weights; the optimizer's state and step count; and returns the
// trainer_state.json object. Throws Error(kInvalidArgument) for a folder that is not a khub
// training checkpoint, another optimizer type, or parameter names or shapes that do not match
// the checkpoint (nothing is changed then); Error(kNotFound) for a missing folder.
void load_checkpoint(const std::filesystem::path& dir, const std::vector<Parameter>& params,
                     Optimizer& optimizer, nlohmann::json& trainer_state);

// Whether dir holds a trainer_state.json with this format and an optimizer.safetensors.
bool is_training_checkpoint(const std::filesystem::path& dir);

// Cleans up after a save that died part-way: when out_dir is missing and an <out_dir>.old-<pid>
// exists, it is renamed back to out_dir (returns true then); leftover .old-<pid> folders next to
// an existing out_dir, and .tmp-<pid> folders, are removed (except those of another live
// process, which may be saving right now).
bool recover_checkpoint_dir(const std::filesystem::path& out_dir);

// Test hooks: `at` is called at each stage of a save ("weights", "optimizer", "files",
// "trainer_state", "before-swap", "between-renames"); throwing from it injects a failure there.
// no_rename_exchange forces the two-rename swap.
struct CheckpointTestHooks {
  std::function<void(std::string_view stage)> at;
  bool no_rename_exchange = false;
};
void set_checkpoint_test_hooks(CheckpointTestHooks hooks);

}  // namespace khub
