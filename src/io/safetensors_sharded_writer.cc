#include "io/safetensors_sharded_writer.h"

#include <cctype>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/logging.h"
#include "io/atomic_file.h"
#include "io/quote_untrusted.h"
#include "io/safetensors_model_files.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

// Files of an earlier save that the new checkpoint does not contain.
void remove_stale_files(const fs::path& dir, const std::vector<fs::path>& written, bool sharded) {
  static const std::regex kShard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  std::vector<fs::path> stale;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    bool ours = std::regex_match(name, kShard) || name == kSafetensorsSingleFile ||
                (!sharded && name == kSafetensorsIndexFile);
    if (!ours) continue;
    bool kept = false;
    for (const fs::path& w : written) kept = kept || w.filename() == name;
    if (!kept) stale.push_back(entry.path());
  }
  for (const fs::path& p : stale) {
    log_info("removing ", p.string(), " left by an earlier save");
    fs::remove(p, ec);
    if (ec) log_warn("could not remove stale ", p.string(), ": ", ec.message());
  }
  if (!stale.empty()) fsync_directory(dir);
}

}  // namespace

std::vector<std::vector<size_t>> plan_safetensors_shards(const std::vector<TensorToWrite>& tensors,
                                                         uint64_t max_shard_bytes) {
  KHUB_CHECK_ARG(max_shard_bytes > 0, "max shard size must be positive");
  std::vector<std::vector<size_t>> shards;
  std::vector<size_t> current;
  uint64_t current_bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t n = tensors[i].nbytes();
    if (n > max_shard_bytes) {
      shards.push_back({i});
      continue;
    }
    if (current_bytes + n > max_shard_bytes) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(i);
    current_bytes += n;
  }
  if (!current.empty() || shards.empty()) shards.push_back(std::move(current));
  return shards;
}

ShardedCheckpoint write_safetensors_sharded(const fs::path& dir, std::vector<TensorToWrite> tensors,
                                            uint64_t max_shard_bytes,
                                            const SafetensorsMetadata& metadata) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(ErrorKind::kIo, dir.string(), ": cannot create directory: ", ec.message());

  std::vector<std::vector<size_t>> plan = plan_safetensors_shards(tensors, max_shard_bytes);
  ShardedCheckpoint result;
  nlohmann::json weight_map = nlohmann::json::object();
  std::vector<AtomicFileWriter> staged;
  staged.reserve(plan.size());
  for (size_t s = 0; s < plan.size(); ++s) {
    std::string name =
        plan.size() == 1 ? std::string(kSafetensorsSingleFile) : shard_name(s, plan.size());
    std::vector<TensorToWrite> shard;
    for (size_t i : plan[s]) {
      result.total_size += tensors[i].nbytes();
      weight_map[tensors[i].name] = name;
      shard.push_back(std::move(tensors[i]));
    }
    staged.emplace_back(dir / name);
    write_safetensors_to(staged.back(), std::move(shard), metadata);
    staged.back().sync();
  }
  for (AtomicFileWriter& w : staged) {
    w.rename_into_place();
    result.files.push_back(w.target());
  }
  fsync_directory(dir);
  if (plan.size() > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", result.total_size}}},
                            {"weight_map", weight_map}};
    result.index = dir / kSafetensorsIndexFile;
    write_file_atomic(result.index, index.dump(2) + "\n");
  }
  remove_stale_files(dir, result.files, plan.size() > 1);
  return result;
}

uint64_t parse_byte_size(std::string_view text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    KHUB_CHECK_ARG(
        !__builtin_mul_overflow(value, 10, &value) && !__builtin_add_overflow(value, digit, &value),
        "size ", quote_untrusted(text), " is too large");
    ++i;
  }
  KHUB_CHECK_ARG(i > 0, "size ", quote_untrusted(text),
                 " must start with a number, e.g. 5GB or 500MiB");
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::map<std::string, uint64_t> kUnits = {{"", 1},
                                                         {"B", 1},
                                                         {"KB", 1000ULL},
                                                         {"MB", 1000ULL * 1000},
                                                         {"GB", 1000ULL * 1000 * 1000},
                                                         {"TB", 1000ULL * 1000 * 1000 * 1000},
                                                         {"KIB", 1ULL << 10},
                                                         {"MIB", 1ULL << 20},
                                                         {"GIB", 1ULL << 30},
                                                         {"TIB", 1ULL << 40}};
  auto it = kUnits.find(unit);
  KHUB_CHECK_ARG(it != kUnits.end(), "size ", quote_untrusted(text),
                 " has an unknown unit (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
  KHUB_CHECK_ARG(!__builtin_mul_overflow(value, it->second, &value), "size ", quote_untrusted(text),
                 " is too large");
  return value;
}

}  // namespace khub
