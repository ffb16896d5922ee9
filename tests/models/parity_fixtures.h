// The transformers parity fixtures (tests/fixtures/parity): recipes for `khub init-model` and the
// golden outputs scripts/golden/model_parity.py wrote with transformers. Shared by the CPU and
// CUDA parity tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/init_weights.h"

namespace khub::parity {

inline const char* kFixtures = "tests/fixtures/parity";

inline nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// The golden logits are little-endian f32 bytes in base64.
inline std::vector<float> decode_b64_f32(const std::string& b64) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    buf = (buf << 6) | static_cast<uint32_t>(chars.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

// max |got - want| / max |want|
inline double relative_max_error(const std::vector<float>& got, const std::vector<float>& want) {
  double max_abs = 0, max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(double{want[i]}));
    max_diff = std::max(max_diff, std::fabs(double{want[i]} - got[i]));
  }
  return max_diff / max_abs;
}

inline InitModelOptions recipe_options(const nlohmann::json& r) {
  InitModelOptions o;
  o.arch = r["arch"];
  o.preset = r["preset"];
  o.seed = r["seed"];
  o.overrides = r["overrides"];
  return o;
}

}  // namespace khub::parity
