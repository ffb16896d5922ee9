// Sharded checkpoints: the shard plan, the writer's files and index, the reader's checks.
#include <gtest/gtest.h>

#include "io/json_file.h"
#include "io/safetensors.h"
#include "io_test_util.h"

namespace khub {
namespace {

using testing::error_message;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

std::vector<TensorToWrite> tensors_of_sizes(const std::vector<int64_t>& floats) {
  std::vector<TensorToWrite> list;
  for (size_t i = 0; i < floats.size(); ++i) {
    list.push_back(TensorToWrite::of(
        "t" + std::to_string(i), Tensor::full({floats[i]}, static_cast<double>(i), DType::kF32)));
  }
  return list;
}

TEST(SafetensorsShardPlan, GreedyInOrderWithOversizeTensorsAlone) {
  // Sizes in bytes: 40, 40, 40, 200, 8 with a 100-byte limit.
  auto list = tensors_of_sizes({10, 10, 10, 50, 2});
  auto plan = plan_safetensors_shards(list, 100);
  // t0+t1 fill 80; t2 would make 120 -> new shard; t3 (200) is alone, emitted at once; t4 joins t2.
  std::vector<std::vector<size_t>> want = {{0, 1}, {3}, {2, 4}};
  EXPECT_EQ(plan, want);
  EXPECT_EQ(plan_safetensors_shards(list, 1000),
            (std::vector<std::vector<size_t>>{{0, 1, 2, 3, 4}}));
  EXPECT_EQ(plan_safetensors_shards({}, 10).size(), 1u);
  error_message([&] { plan_safetensors_shards(list, 0); }, ErrorKind::kInvalidArgument);
}

TEST(SafetensorsSharded, WritesShardsAndIndexThatReadBack) {
  TempDir dir;
  auto list = tensors_of_sizes({10, 10, 10, 50, 2});
  ShardedCheckpoint out = write_safetensors_sharded(dir.path(), list, 100, {{"format", "pt"}});
  ASSERT_EQ(out.files.size(), 3u);
  EXPECT_EQ(out.files[0].filename(), "model-00001-of-00003.safetensors");
  EXPECT_EQ(out.files[2].filename(), "model-00003-of-00003.safetensors");
  EXPECT_EQ(out.total_size, 4u * (10 + 10 + 10 + 50 + 2));
  ASSERT_EQ(out.index.filename(), "model.safetensors.index.json");

  nlohmann::json index = read_json_file(out.index);
  EXPECT_EQ(index["metadata"]["total_size"], out.total_size);
  EXPECT_EQ(index["weight_map"]["t3"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["t4"], "model-00003-of-00003.safetensors");
  // As transformers writes it: 2-space indent, sorted keys, final newline.
  EXPECT_EQ(read_bytes(out.index), index.dump(2) + "\n");

  SafetensorsModelFiles m = SafetensorsModelFiles::open(dir.path());
  EXPECT_TRUE(m.sharded());
  EXPECT_EQ(m.files().size(), 3u);
  EXPECT_EQ(m.names(), (std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"}));
  EXPECT_TRUE(m.has("t3"));
  EXPECT_FALSE(m.has("t5"));
  EXPECT_EQ(m.index_metadata()["total_size"], out.total_size);
  for (int i = 0; i < 5; ++i) {
    Tensor t = m.get("t" + std::to_string(i));
    EXPECT_EQ(t.item(t.numel() - 1), i);
  }
  EXPECT_EQ(m.file_of("t3").path().filename(), "model-00002-of-00003.safetensors");
  EXPECT_EQ(m.file_of("t0").metadata().at("format"), "pt");
  std::string msg = error_message([&] { m.get("t5"); }, ErrorKind::kNotFound);
  EXPECT_NE(msg.find("'t5'"), std::string::npos) << msg;
}

TEST(SafetensorsSharded, OneShardIsModelSafetensorsAndStaleFilesGo) {
  TempDir dir;
  write_safetensors_sharded(dir.path(), tensors_of_sizes({10, 10, 10}), 80);  // 2 shards
  ASSERT_TRUE(std::filesystem::exists(dir / "model-00002-of-00002.safetensors"));
  write_bytes(dir / "notes.txt", "keep me");

  ShardedCheckpoint out = write_safetensors_sharded(dir.path(), tensors_of_sizes({10, 10}), 1000);
  ASSERT_EQ(out.files.size(), 1u);
  EXPECT_EQ(out.files[0].filename(), "model.safetensors");
  EXPECT_TRUE(out.index.empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors.index.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "notes.txt"));
  SafetensorsModelFiles m = SafetensorsModelFiles::open(dir.path());
  EXPECT_FALSE(m.sharded());
  EXPECT_EQ(m.size(), 2u);

  // And back to shards: the single file goes, so no loader picks the stale one.
  write_safetensors_sharded(dir.path(), tensors_of_sizes({10, 10, 10}), 50);
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors"));
  EXPECT_EQ(SafetensorsModelFiles::open(dir.path()).size(), 3u);
}

TEST(SafetensorsSharded, AFailureInAnyShardLeavesTheOldCheckpoint) {
  TempDir dir;
  write_safetensors_sharded(dir.path(), tensors_of_sizes({10, 10, 10}), 80);
  std::map<std::string, std::string> before;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    before[e.path().filename()] = read_bytes(e.path());
  }
  auto list = tensors_of_sizes({10, 10, 10, 10, 10});
  list[4].produce = []() -> Tensor { throw Error(ErrorKind::kIo, "device lost"); };
  error_message([&] { write_safetensors_sharded(dir.path(), list, 80); }, ErrorKind::kIo);
  std::map<std::string, std::string> after;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    after[e.path().filename()] = read_bytes(e.path());
  }
  EXPECT_EQ(after, before);  // same files, same bytes, no temporaries
}

TEST(SafetensorsSharded, ReaderPrefersTheSingleFileAndOpensFilesDirectly) {
  TempDir dir;
  write_safetensors(dir / "model.safetensors", {{"single", Tensor::zeros({1}, DType::kF32)}});
  write_bytes(dir / "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"nope\"}}");
  EXPECT_EQ(SafetensorsModelFiles::open(dir.path()).names(), std::vector<std::string>{"single"});
  SafetensorsModelFiles direct = SafetensorsModelFiles::open(dir / "model.safetensors");
  EXPECT_TRUE(direct.has("single"));
  EXPECT_EQ(direct.dir(), dir.path());
}

struct IndexCase {
  const char* name;
  std::string index;
  ErrorKind kind;
  const char* expect;
};

TEST(SafetensorsSharded, BrokenIndexesFailWithClearErrors) {
  TempDir dir;
  write_safetensors(dir / "a.safetensors", {{"x", Tensor::zeros({2}, DType::kF32)}});
  const std::vector<IndexCase> cases = {
      {"missing_shard", R"({"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})",
       ErrorKind::kNotFound, "shard 'b.safetensors' (holding tensor 'y') does not exist"},
      {"tensor_not_in_shard", R"({"weight_map": {"x": "a.safetensors", "z": "a.safetensors"}})",
       ErrorKind::kFormat, "tensor 'z' is mapped to shard 'a.safetensors'"},
      {"escaping_shard", R"({"weight_map": {"x": "../a.safetensors"}})", ErrorKind::kFormat,
       "plain file name"},
      {"shard_not_string", R"({"weight_map": {"x": 3}})", ErrorKind::kFormat,
       "tensor 'x' must be a shard file name"},
      {"no_weight_map", R"({"metadata": {}})", ErrorKind::kFormat, "missing 'weight_map'"},
      {"weight_map_array", R"({"weight_map": []})", ErrorKind::kFormat, "must be an object"},
      {"metadata_string", R"({"metadata": "x", "weight_map": {}})", ErrorKind::kFormat,
       "'metadata' must be an object"},
      {"duplicate_tensor", R"({"weight_map": {"x": "a.safetensors", "x": "a.safetensors"}})",
       ErrorKind::kFormat, "duplicate key 'x'"},
      {"bad_json", "{\"weight_map\": {\n  \"x\": a.safetensors}}", ErrorKind::kFormat, "line 2"},
      {"not_object", "[]", ErrorKind::kFormat, "must be a JSON object"},
  };
  for (const IndexCase& c : cases) {
    SCOPED_TRACE(c.name);
    write_bytes(dir / "model.safetensors.index.json", c.index);
    std::string msg = error_message([&] { SafetensorsModelFiles::open(dir.path()); }, c.kind);
    EXPECT_NE(msg.find("model.safetensors.index.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
  }
  // A malformed shard is reported with the shard's own name.
  write_bytes(dir / "bad.safetensors", "garbage!");
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map": {"x": "bad.safetensors"}})");
  std::string msg =
      error_message([&] { SafetensorsModelFiles::open(dir.path()); }, ErrorKind::kFormat);
  EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << msg;
}

TEST(SafetensorsSharded, EmptyOrMissingDirectories) {
  TempDir dir;
  write_bytes(dir / "consolidated.safetensors", "x");
  std::string msg =
      error_message([&] { SafetensorsModelFiles::open(dir.path()); }, ErrorKind::kNotFound);
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("consolidated.safetensors"), std::string::npos) << msg;
  error_message([&] { SafetensorsModelFiles::open(dir / "absent"); }, ErrorKind::kNotFound);
}

TEST(ParseByteSize, HuggingFaceUnits) {
  EXPECT_EQ(parse_byte_size("5GB"), 5'000'000'000u);
  EXPECT_EQ(parse_byte_size("500MiB"), 500u << 20);
  EXPECT_EQ(parse_byte_size("10kb"), 10'000u);
  EXPECT_EQ(parse_byte_size("1000"), 1000u);
  error_message([] { parse_byte_size("GB"); }, ErrorKind::kInvalidArgument);
  error_message([] { parse_byte_size("5 parsecs"); }, ErrorKind::kInvalidArgument);
  error_message([] { parse_byte_size("99999999999999999999"); }, ErrorKind::kInvalidArgument);
  error_message([] { parse_byte_size("20000000000TB"); }, ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace khub
