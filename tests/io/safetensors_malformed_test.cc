// A table of malformed safetensors files. Each must fail with Error(kFormat) (or kUnsupported for
// a valid-but-unknown dtype), never crash, and name the file and, when one tensor is at fault,
// that tensor.
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "io_test_util.h"

namespace khub {
namespace {

using testing::error_message;
using testing::le64;
using testing::safetensors_image;
using testing::TempDir;

struct Case {
  const char* name;    // also the file name: <name>.safetensors
  std::string bytes;   // the whole file
  const char* tensor;  // must appear quoted in the message; null when no tensor is at fault
  const char* expect;  // a phrase the message must contain
  ErrorKind kind = ErrorKind::kFormat;
};

std::string entry(const char* name, const char* dtype, const char* shape, const char* offsets) {
  return std::string("\"") + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

std::vector<Case> cases() {
  const std::string w = entry("w", "F32", "[2]", "[0,8]");
  const std::string eight(8, '\x01');
  return {
      {"empty_file", "", nullptr, "too short"},
      {"short_file", "abc", nullptr, "too short"},
      {"header_len_huge", le64(1ULL << 62) + "{}", nullptr, "limit"},
      {"header_len_over_limit", le64(100'000'001) + "{}", nullptr, "limit"},
      {"header_len_past_eof", le64(64) + "{}      ", nullptr, "larger than the file"},
      {"header_len_zero", le64(0), nullptr, "does not start with '{'"},
      {"header_not_object_start", safetensors_image("[1,2]", ""), nullptr, "start with '{'"},
      {"bad_json", safetensors_image("{\"w\":{\"dtype\":", ""), nullptr, "invalid JSON"},
      {"bad_json_trailing", safetensors_image("{} x", ""), nullptr, "invalid JSON"},
      {"bad_utf8", safetensors_image("{\"w\xff\":1}", ""), nullptr, "invalid JSON"},
      {"nul_padding", safetensors_image("{}" + std::string(6, '\0'), "", false), nullptr,
       "NUL byte"},
      {"nul_then_garbage", safetensors_image(std::string("{}\0{\"w\":1}", 10), ""), nullptr,
       "NUL byte"},
      {"too_deep", safetensors_image("{\"w\":[[[[[[[[[[[[1]]]]]]]]]]]]}", ""), nullptr, "deeper"},
      {"entry_not_object", safetensors_image("{\"w\":[1,2]}", ""), "w", "must be an object"},
      {"missing_dtype", safetensors_image("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", ""),
       "w", "missing 'dtype'"},
      {"missing_shape", safetensors_image("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", ""),
       "w", "missing 'shape'"},
      {"missing_offsets", safetensors_image("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", ""), "w",
       "missing 'data_offsets'"},
      {"dtype_not_string",
       safetensors_image("{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "w",
       "dtype must be a string"},
      {"unknown_dtype", safetensors_image("{" + entry("w", "F31", "[2]", "[0,8]") + "}", eight),
       "w", "unknown dtype 'F31'"},
      {"lowercase_dtype", safetensors_image("{" + entry("w", "f32", "[2]", "[0,8]") + "}", eight),
       "w", "unknown dtype"},
      {"unsupported_dtype",
       safetensors_image("{" + entry("w", "F8_E8M0", "[8]", "[0,8]") + "}", eight), "w",
       "not supported by khub", ErrorKind::kUnsupported},
      {"shape_not_array", safetensors_image("{" + entry("w", "F32", "2", "[0,8]") + "}", eight),
       "w", "shape must be an array"},
      {"shape_negative", safetensors_image("{" + entry("w", "F32", "[-2]", "[0,8]") + "}", eight),
       "w", "negative"},
      {"shape_float", safetensors_image("{" + entry("w", "F32", "[2.0]", "[0,8]") + "}", eight),
       "w", "non-negative integer"},
      {"shape_string", safetensors_image("{" + entry("w", "F32", "[\"2\"]", "[0,8]") + "}", eight),
       "w", "non-negative integer"},
      {"shape_too_big_for_int64",
       safetensors_image("{" + entry("w", "U8", "[9223372036854775808]", "[0,8]") + "}", eight),
       "w", "larger than"},
      {"shape_numel_overflow",
       safetensors_image("{" + entry("w", "U8", "[4294967296,4294967296]", "[0,8]") + "}", eight),
       "w", "64 bits"},
      {"shape_stride_overflow",
       safetensors_image("{" + entry("w", "U8", "[0,4294967296,4294967296]", "[0,0]") + "}", ""),
       "w", "64 bits"},
      {"nbytes_overflow",
       safetensors_image("{" + entry("w", "F64", "[4611686018427387904]", "[0,8]") + "}", eight),
       "w", "2^64"},
      {"offsets_not_array", safetensors_image("{" + entry("w", "F32", "[2]", "8") + "}", eight),
       "w", "[begin, end]"},
      {"offsets_three", safetensors_image("{" + entry("w", "F32", "[2]", "[0,8,8]") + "}", eight),
       "w", "[begin, end]"},
      {"offsets_negative", safetensors_image("{" + entry("w", "F32", "[2]", "[-8,0]") + "}", eight),
       "w", "negative"},
      {"offsets_float", safetensors_image("{" + entry("w", "F32", "[2]", "[0,8.5]") + "}", eight),
       "w", "non-negative integer"},
      {"offsets_reversed", safetensors_image("{" + entry("w", "F32", "[2]", "[8,0]") + "}", eight),
       "w", "end before they begin"},
      {"offsets_beyond_u64",
       safetensors_image("{" + entry("w", "F32", "[2]", "[0,18446744073709551616]") + "}", eight),
       "w", "non-negative integer"},
      {"size_mismatch", safetensors_image("{" + entry("w", "F32", "[3]", "[0,8]") + "}", eight),
       "w", "needs 12 bytes"},
      {"out_of_range",
       safetensors_image("{" + entry("w", "F32", "[2]", "[1000000,1000008]") + "}", eight), "w",
       "past the end"},
      {"truncated_data", safetensors_image("{" + w + "}", "\x01\x02\x03"), "w", "truncated"},
      {"overlap", safetensors_image("{" + w + "," + entry("v", "F32", "[1]", "[4,8]") + "}", eight),
       "w", "overlap"},
      {"overlap_zero_size_inside",
       safetensors_image("{" + w + "," + entry("z", "F32", "[0]", "[4,4]") + "}", eight), "z",
       "overlap"},
      {"gap",
       safetensors_image(
           "{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("b", "F32", "[1]", "[8,12]") + "}",
           std::string(12, '\0')),
       "b", "no gaps"},
      {"not_from_zero", safetensors_image("{" + entry("w", "F32", "[1]", "[4,8]") + "}", eight),
       "w", "start at offset 0"},
      {"trailing_bytes", safetensors_image("{" + w + "}", eight + "xyz"), "w",
       "belong to no tensor"},
      {"data_but_no_tensors", safetensors_image("{}", eight), nullptr, "no tensors"},
      {"duplicate_tensor", safetensors_image("{" + w + "," + w + "}", eight), "w", "appears twice"},
      {"duplicate_field",
       safetensors_image("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],"
                         "\"data_offsets\":[0,8]}}",
                         eight),
       "w", "duplicate key 'dtype'"},
      {"metadata_not_object", safetensors_image("{\"__metadata__\":[]," + w + "}", eight), nullptr,
       "__metadata__ must be an object"},
      {"metadata_value_not_string",
       safetensors_image("{\"__metadata__\":{\"k\":1}," + w + "}", eight), nullptr,
       "must be a string"},
      {"git_lfs_pointer", "version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n",
       nullptr, "Git LFS pointer"},
  };
}

TEST(SafetensorsMalformed, EveryCaseFailsNamingTheFileAndTensor) {
  TempDir dir;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    std::string file = std::string(c.name) + ".safetensors";
    testing::write_bytes(dir / file, c.bytes);
    std::string msg = error_message([&] { SafetensorsFile::open(dir / file); }, c.kind);
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    if (c.tensor != nullptr) {
      EXPECT_NE(msg.find(std::string("tensor '") + c.tensor + "'"), std::string::npos) << msg;
    }
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    // The in-memory parser (what the fuzzer drives) gives the same verdict.
    error_message([&] { parse_safetensors_image(c.bytes.data(), c.bytes.size(), file); }, c.kind);
  }
}

TEST(SafetensorsMalformed, JsonErrorsCarryLineAndColumn) {
  std::string bytes = safetensors_image("{\n  \"w\": {\n    \"dtype\": F32\n  }\n}", "");
  std::string msg =
      error_message([&] { parse_safetensors_image(bytes.data(), bytes.size(), "h.safetensors"); },
                    ErrorKind::kFormat);
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column"), std::string::npos) << msg;
}

TEST(SafetensorsMalformed, HostileNamesAreEscapedAndCutInMessages) {
  std::string name = "evil\\u001b[31m" + std::string(10000, 'x');
  std::string header = "{\"" + name + "\":{\"dtype\":\"F99\",\"shape\":[],\"data_offsets\":[0,0]}}";
  std::string bytes = safetensors_image(header, "");
  std::string msg =
      error_message([&] { parse_safetensors_image(bytes.data(), bytes.size(), "e.safetensors"); },
                    ErrorKind::kFormat);
  EXPECT_EQ(msg.find('\x1b'), std::string::npos);
  EXPECT_NE(msg.find("\\x1b"), std::string::npos);
  EXPECT_LT(msg.size(), 1000u);
}

TEST(SafetensorsMalformed, AcceptsWhatHfAccepts) {
  // Unknown fields in an entry are ignored, "-0" is zero, whitespace padding is allowed, and a
  // zero-size tensor may sit at the end.
  std::string header =
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-0,8],\"extra\":{\"a\":[1]}},"
      "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[8,8]}}\n\t ";
  std::string bytes = safetensors_image(header, std::string(8, '\0'), false);
  SafetensorsHeader h = parse_safetensors_image(bytes.data(), bytes.size(), "ok.safetensors");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.find("z")->shape, (Shape{0, 5}));
  EXPECT_EQ(h.data_offset(), 8 + header.size());
}

}  // namespace
}  // namespace khub
