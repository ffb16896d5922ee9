// Writing a checkpoint's weights the way transformers' save_pretrained does: one
// model.safetensors when everything fits in one shard, else model-00001-of-0000N.safetensors plus
// model.safetensors.index.json ({"metadata": {"total_size": bytes}, "weight_map": {...}}, sorted,
// 2-space indent). Shards are split greedily in the given tensor order as huggingface_hub does: a
// shard closes before the tensor that would push it past the limit, and a tensor larger than the
// limit gets a shard of its own.
//
// Crash safety: every shard is written and fsync'ed under a temporary name first; only when all
// are on disk are they renamed into place, then the index is written (atomically), then stale
// files of an earlier save in the other layout or with another shard count are removed, so that a
// loader never mixes two checkpoints.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "io/safetensors_writer.h"

namespace khub {

// Tensor indices per shard, in shard order.
std::vector<std::vector<size_t>> plan_safetensors_shards(const std::vector<TensorToWrite>& tensors,
                                                         uint64_t max_shard_bytes);

struct ShardedCheckpoint {
  std::vector<std::filesystem::path> files;  // in shard order
  std::filesystem::path index;               // empty when a single file was written
  uint64_t total_size = 0;                   // bytes of tensor data, as in the index
};

// Creates dir if needed. metadata goes into every shard's "__metadata__" (transformers writes
// {"format": "pt"}). Throws like write_safetensors; on failure nothing in dir has changed unless
// the failure happened while renaming finished shards into place.
ShardedCheckpoint write_safetensors_sharded(const std::filesystem::path& dir,
                                            std::vector<TensorToWrite> tensors,
                                            uint64_t max_shard_bytes,
                                            const SafetensorsMetadata& metadata = {});

// "5GB" -> 5'000'000'000, "500MiB" -> 524'288'000, "1000" -> 1000 (huggingface_hub's units:
// KB/MB/GB/TB are powers of 10, KiB/MiB/GiB/TiB powers of 2). Throws Error(kInvalidArgument).
uint64_t parse_byte_size(std::string_view text);

}  // namespace khub
