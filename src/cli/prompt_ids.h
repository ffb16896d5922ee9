// Parsing `--prompt-ids 1,2,3` (and `;`-separated batches: `1,2,3;4,5`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace khub::cli {

std::vector<int32_t> parse_id_list(const std::string& text);
std::vector<std::vector<int32_t>> parse_id_batches(const std::string& text);

}  // namespace khub::cli
