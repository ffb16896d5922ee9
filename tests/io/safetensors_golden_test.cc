// Cross-check against HF's `safetensors`: the fixtures in tests/io/fixtures were written by
// scripts/golden/safetensors_fixtures.py following the published format, and that script's
// --check mode verifies on a machine with the real library that it loads them to the same values
// and re-serializes them to the same bytes. Here khub must read the same values and its writer
// must produce the same bytes.
#include <gtest/gtest.h>

#include <cmath>

#include "io/json_file.h"
#include "io/safetensors.h"
#include "io_test_util.h"

namespace khub {
namespace {

using testing::read_bytes;
using testing::TempDir;

const std::filesystem::path kFixtures = "tests/io/fixtures";

// fp8 patterns of the script (E4M3 bias 7, E5M2 bias 15) and the values they encode.
const std::vector<uint8_t> kE4M3 = {0x38, 0x40, 0x30, 0xB8, 0x44};
const std::vector<uint8_t> kE5M2 = {0x3C, 0x40, 0x38, 0xBC, 0x42};

// Element i of a fixture tensor: the formulas of safetensors_fixtures.py's values().
double fixture_value(DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF64:
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return (static_cast<double>(i) - 2) * 0.5;
    case DType::kBool:
      return i % 3 == 0 ? 1 : 0;
    case DType::kI64:
      return -std::ldexp(1.0, 40) + 7.0 * static_cast<double>(i);
    case DType::kU64:
      return std::ldexp(1.0, 40) + 7.0 * static_cast<double>(i);
    case DType::kI32:
    case DType::kI16:
    case DType::kI8:
      return static_cast<double>(i) * 37 - 50;
    default:  // U8, U16, U32
      return static_cast<double>(i) * 37 + 1;
  }
}

Tensor fixture_tensor(DType dtype, Shape shape) {
  int64_t n = shape_numel(shape);
  if (dtype == DType::kF8E4M3 || dtype == DType::kF8E5M2) {
    const auto& table = dtype == DType::kF8E4M3 ? kE4M3 : kE5M2;
    std::vector<uint8_t> bytes;
    for (int64_t i = 0; i < n; ++i) bytes.push_back(table[i % 5]);
    return Tensor::from_vector(bytes, shape, dtype);
  }
  std::vector<double> values;
  for (int64_t i = 0; i < n; ++i) values.push_back(fixture_value(dtype, i));
  return Tensor::from_vector(values, shape, DType::kF64).to(dtype);
}

struct FixtureTensor {
  const char* name;
  DType dtype;
  Shape shape;
};

const std::vector<FixtureTensor> kNumpyFixture = {
    {"f64", DType::kF64, {2, 3}}, {"f32", DType::kF32, {3, 2}},   {"f16", DType::kF16, {4}},
    {"i64", DType::kI64, {2}},    {"i32", DType::kI32, {2, 2}},   {"i16", DType::kI16, {3}},
    {"i8", DType::kI8, {5}},      {"u8", DType::kU8, {2, 3}},     {"bool", DType::kBool, {4}},
    {"u16", DType::kU16, {2}},    {"u32", DType::kU32, {2}},      {"u64", DType::kU64, {2}},
    {"scalar", DType::kF32, {}},  {"empty", DType::kF32, {0, 3}},
};
const std::vector<FixtureTensor> kTorchFixture = {
    {"bf16", DType::kBF16, {2, 3}},
    {"f8_e4m3", DType::kF8E4M3, {5}},
    {"f8_e5m2", DType::kF8E5M2, {5}},
    {"model.layers.0.weight", DType::kF16, {2, 2}},
};

void check_fixture(const std::filesystem::path& path, const std::vector<FixtureTensor>& tensors,
                   const std::string& format) {
  SCOPED_TRACE(path.string());
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", format}}));
  ASSERT_EQ(f.size(), tensors.size());
  std::map<std::string, Tensor> expected;
  for (const FixtureTensor& t : tensors) {
    SCOPED_TRACE(t.name);
    Tensor got = f.get(t.name);
    Tensor want = fixture_tensor(t.dtype, t.shape);
    ASSERT_EQ(got.dtype(), t.dtype);
    ASSERT_EQ(got.shape(), t.shape);
    if (t.dtype == DType::kF8E4M3 || t.dtype == DType::kF8E5M2) {
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.nbytes()), 0);
    } else {
      for (int64_t i = 0; i < got.numel(); ++i) EXPECT_EQ(got.item(i), fixture_value(t.dtype, i));
    }
    expected[t.name] = want;
  }
  // khub's writer, given the same tensors, writes the very same bytes.
  TempDir dir;
  write_safetensors(dir / "again.safetensors", expected, {{"format", format}});
  EXPECT_EQ(read_bytes(dir / "again.safetensors"), read_bytes(path));
}

TEST(SafetensorsGolden, NumpyDtypesFixture) {
  check_fixture(kFixtures / "all_numpy_dtypes.safetensors", kNumpyFixture, "np");
}

TEST(SafetensorsGolden, TorchDtypesFixture) {
  check_fixture(kFixtures / "torch_dtypes.safetensors", kTorchFixture, "pt");
}

TEST(SafetensorsGolden, ShardedFixture) {
  const auto dir = kFixtures / "sharded";
  check_fixture(
      dir / "model-00001-of-00002.safetensors",
      {{"model.embed_tokens.weight", DType::kF32, {4, 2}}, {"model.norm.weight", DType::kF32, {2}}},
      "pt");
  check_fixture(dir / "model-00002-of-00002.safetensors",
                {{"lm_head.weight", DType::kBF16, {4, 2}}}, "pt");
  SafetensorsModelFiles m = SafetensorsModelFiles::open(dir);
  EXPECT_TRUE(m.sharded());
  EXPECT_EQ(m.names(), (std::vector<std::string>{"lm_head.weight", "model.embed_tokens.weight",
                                                 "model.norm.weight"}));
  EXPECT_EQ(m.index_metadata()["total_size"], 4 * 8 + 4 * 2 + 2 * 8);
  EXPECT_EQ(m.get("lm_head.weight").item(7), 2.5);

  // Our sharded writer, asked for the same split, writes the same index bytes.
  TempDir out;
  std::vector<TensorToWrite> list = {
      TensorToWrite::of("model.embed_tokens.weight", fixture_tensor(DType::kF32, {4, 2})),
      TensorToWrite::of("model.norm.weight", fixture_tensor(DType::kF32, {2})),
      TensorToWrite::of("lm_head.weight", fixture_tensor(DType::kBF16, {4, 2}))};
  write_safetensors_sharded(out.path(), list, 40, {{"format", "pt"}});
  for (const char* name : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                           "model.safetensors.index.json"}) {
    EXPECT_EQ(read_bytes(out / name), read_bytes(dir / name)) << name;
  }
}

}  // namespace
}  // namespace khub
