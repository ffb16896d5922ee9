// JSON helpers: errors name the file and the place; duplicates and runaway nesting are refused.
#include <gtest/gtest.h>

#include "io/json_file.h"
#include "io_test_util.h"

namespace khub {
namespace {

using testing::error_message;

TEST(JsonFile, ParsesAndReportsLineAndColumn) {
  EXPECT_EQ(parse_json(R"({"a": [1, 2]})", "x.json")["a"][1], 2);
  std::string msg = error_message([] { parse_json("{\n  \"a\": 1,\n  \"b\": tru\n}", "c.json"); },
                                  ErrorKind::kFormat);
  EXPECT_NE(msg.find("c.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3, column 11"), std::string::npos) << msg;
}

TEST(JsonFile, DuplicateKeysAnywhereAreErrorsWithTheirPath) {
  std::string msg =
      error_message([] { parse_json(R"({"a": 1, "a": 2})", "d.json"); }, ErrorKind::kFormat);
  EXPECT_NE(msg.find("duplicate key 'a' in the top-level object"), std::string::npos) << msg;
  msg = error_message([] { parse_json(R"({"m": {"x": [{"k": 1, "k": 2}]}})", "d.json"); },
                      ErrorKind::kFormat);
  EXPECT_NE(msg.find("duplicate key 'k'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/'m'/'x'/[]"), std::string::npos) << msg;
  // Same key in sibling objects is fine.
  EXPECT_NO_THROW(parse_json(R"({"a": {"k": 1}, "b": {"k": 2}, "c": [{"k": 1}, {"k": 2}]})", "s"));
  // And allowed when asked (Python's json keeps the last one).
  EXPECT_EQ(parse_json(R"({"a": 1, "a": 2})", "d", {.reject_duplicate_keys = false})["a"], 2);
}

TEST(JsonFile, NestingAndNulBytesAreRefused) {
  std::string deep(100000, '[');
  std::string msg = error_message([&] { parse_json(deep, "deep.json"); }, ErrorKind::kFormat);
  EXPECT_NE(msg.find("deeper than 512"), std::string::npos) << msg;
  msg = error_message([] { parse_json(std::string("{}\0{\"a\":1}", 10), "n.json"); },
                      ErrorKind::kFormat);
  EXPECT_NE(msg.find("NUL byte at line 1, column 3"), std::string::npos) << msg;
}

TEST(JsonFile, FileErrors) {
  testing::TempDir dir;
  error_message([&] { read_json_file(dir / "absent.json"); }, ErrorKind::kNotFound);
  error_message([&] { read_json_file(dir.path()); }, ErrorKind::kIo);
  testing::write_bytes(dir / "bad.json", "{");
  std::string msg = error_message([&] { read_json_file(dir / "bad.json"); }, ErrorKind::kFormat);
  EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
}

}  // namespace
}  // namespace khub
