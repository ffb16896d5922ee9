#include "cli/prompt_ids.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace khub::cli {

std::vector<int32_t> parse_id_list(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX) {
      fail(ErrorKind::kInvalidArgument, "token id '", item, "' in '", text,
           "' is not a non-negative 32-bit integer");
    }
    ids.push_back(static_cast<int32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return ids;
}

std::vector<std::vector<int32_t>> parse_id_batches(const std::string& text) {
  std::vector<std::vector<int32_t>> out;
  size_t pos = 0;
  while (true) {
    size_t semi = text.find(';', pos);
    out.push_back(parse_id_list(
        text.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos)));
    if (semi == std::string::npos) break;
    pos = semi + 1;
  }
  return out;
}

}  // namespace khub::cli
