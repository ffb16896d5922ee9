#include "loader/metadata.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace khub::loader {
namespace {

const char* kGood = R"({
  "name": "rms-norm", "id": "_rms_norm_cuda_30dc0ae", "version": 2, "license": "Apache-2.0",
  "backend": {"type": "cuda", "archs": ["8.0", "9.0a", "9.0+PTX"]},
  "digest": {"algorithm": "sha256", "files": {"lib.so": "AAAA", "sub/x.json": "BBBB"}},
  "provenance": {"kernel-builder": {"version": "0.9.0"}, "kernel": {"sha": "abc", "dirty": true}},
  "python-depends": [], "kernel-depends": [], "future-key": {"ignored": true}
})";

std::string error_of(const std::string& text) {
  try {
    parse_metadata(text, "m.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    return e.what();
  }
  return "";
}

TEST(Metadata, ParsesHfSchemaAndIgnoresUnknownKeys) {
  VariantMetadata md = parse_metadata(kGood, "m.json");
  EXPECT_EQ(md.name, "rms-norm");
  EXPECT_EQ(md.version, 2);
  EXPECT_EQ(md.backend, BackendKind::kCuda);
  EXPECT_EQ(md.archs, (std::vector<std::string>{"8.0", "9.0a", "9.0+PTX"}));
  ASSERT_TRUE(md.digest);
  EXPECT_EQ(md.digest->files.size(), 2u);
  EXPECT_EQ(md.provenance.commit, "abc");  // "sha" is HF's legacy alias
  EXPECT_EQ(md.provenance.dirty, true);
  EXPECT_EQ(md.provenance.builder, "kernel-builder 0.9.0");
  EXPECT_TRUE(md.manifest.is_null());
}

TEST(Metadata, RoundTrip) {
  VariantMetadata md = parse_metadata(kGood, "m.json");
  md.library = "librms_norm.so";
  md.manifest = {{"functions", nlohmann::json::array()}};
  VariantMetadata again = parse_metadata(metadata_to_json(md).dump(), "m.json");
  EXPECT_EQ(again.name, md.name);
  EXPECT_EQ(again.archs, md.archs);
  EXPECT_EQ(again.digest->files, md.digest->files);
  EXPECT_EQ(again.library, md.library);
  EXPECT_EQ(again.manifest, md.manifest);
}

TEST(Metadata, ClearErrors) {
  EXPECT_NE(error_of("{not json").find("m.json: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[]").find("must be a JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"version": 1, "backend": {"type": "cpu"}})").find("missing key \"name\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"name": "Bad_Name", "version": 1, "backend": {"type": "cpu"}})")
                .find("must match"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"name": "ok", "version": "1", "backend": {"type": "cpu"}})")
                .find("\"version\" must be a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"name": "ok", "version": 1, "backend": {"type": "fpga"}})")
                .find("backend.type 'fpga' is unknown"),
            std::string::npos);
  EXPECT_NE(
      error_of(R"({"name": "ok", "version": 1, "backend": {"type": "cuda", "archs": ["sm90"]}})")
          .find("invalid CUDA arch 'sm90'"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"name": "ok", "version": 1, "backend": {"type": "cpu"},
                         "digest": {"algorithm": "md5", "files": {}}})")
                .find("'md5' is unsupported"),
            std::string::npos);
}

TEST(Metadata, HostilePathsAreRefused) {
  for (const char* path :
       {"../evil.so", "/etc/passwd", "a/../../b", "a//b", "./x", "a\\\\b", "C:x"}) {
    std::string text = std::string(R"({"name": "ok", "version": 1, "backend": {"type": "cpu"},
        "digest": {"algorithm": "sha256", "files": {")") +
                       path + R"(": "AAAA"}}})";
    EXPECT_NE(error_of(text).find("hostile path"), std::string::npos) << path;
  }
  EXPECT_NE(
      error_of(R"({"name": "ok", "version": 1, "backend": {"type": "cpu"}, "library": "../x.so"})")
          .find("\"library\" \"../x.so\" is a hostile path"),
      std::string::npos);
}

TEST(Metadata, MissingFile) {
  try {
    read_metadata("/nonexistent/variant");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("no metadata.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace khub::loader
