// Writer -> reader round trips for every dtype, zero-copy and keep-alive of mmap'ed tensors, and
// the writer's atomicity and argument checks.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "io/safetensors.h"
#include "io_test_util.h"

namespace khub {
namespace {

using testing::error_message;
using testing::read_bytes;
using testing::TempDir;

constexpr DType kAllDTypes[] = {DType::kF64,  DType::kF32,    DType::kF16,   DType::kBF16,
                                DType::kI64,  DType::kI32,    DType::kI16,   DType::kI8,
                                DType::kU8,   DType::kU16,    DType::kU32,   DType::kU64,
                                DType::kBool, DType::kF8E4M3, DType::kF8E5M2};

// A tensor whose bytes are pseudo-random (booleans 0/1), so a round trip that moves, drops or
// reorders a single byte shows.
Tensor random_tensor(Shape shape, DType dtype, uint32_t seed) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  std::mt19937 rng(seed);
  auto* p = static_cast<uint8_t*>(t.data());
  for (size_t i = 0; i < t.nbytes(); ++i) {
    p[i] = static_cast<uint8_t>(rng());
    if (dtype == DType::kBool) p[i] &= 1;
  }
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.contiguous().data(), b.contiguous().data(), a.nbytes()) == 0;
}

bool inside_mapping(const SafetensorsFile& f, const Tensor& t) {
  auto p = reinterpret_cast<uintptr_t>(t.data());
  auto base = reinterpret_cast<uintptr_t>(f.mapping_data());
  return p >= base && p + t.nbytes() <= base + f.mapping_size();
}

TEST(SafetensorsRoundTrip, EveryDtypeAlone) {
  TempDir dir;
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dtype));
    Tensor t = random_tensor({3, 5}, dtype, static_cast<uint32_t>(dtype) + 1);
    auto path = dir / (std::string(dtype_name(dtype)) + ".safetensors");
    write_safetensors(path, {{"w", t}}, {{"format", "pt"}});
    SafetensorsFile f = SafetensorsFile::open(path);
    ASSERT_EQ(f.names(), std::vector<std::string>{"w"});
    EXPECT_EQ(f.info("w").dtype, dtype);
    EXPECT_EQ(f.info("w").shape, (Shape{3, 5}));
    EXPECT_EQ(f.metadata().at("format"), "pt");
    Tensor back = f.get("w");
    EXPECT_TRUE(same_bytes(t, back));
    EXPECT_TRUE(inside_mapping(f, back)) << "get() copied instead of viewing the mapping";
  }
}

TEST(SafetensorsRoundTrip, AllDtypesInOneFileStayAlignedAndOrderedAsHf) {
  TempDir dir;
  std::map<std::string, Tensor> tensors;
  uint32_t seed = 7;
  for (DType dtype : kAllDTypes) {
    // Odd element counts, so a writer that ignored alignment order would misalign what follows.
    tensors["t_" + std::string(dtype_name(dtype))] = random_tensor({3}, dtype, ++seed);
  }
  tensors["scalar"] = random_tensor({}, DType::kF32, ++seed);
  tensors["zero_size"] = random_tensor({0, 4}, DType::kBF16, ++seed);
  auto path = dir / "all.safetensors";
  write_safetensors(path, tensors);
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.size(), tensors.size());
  EXPECT_TRUE(f.metadata().empty());
  EXPECT_EQ(f.header().header_size % 8, 0u);
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    Tensor back = f.get(name);
    EXPECT_TRUE(same_bytes(t, back));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(back.data()) % back.element_size(), 0u);
    if (t.numel() > 0) {
      EXPECT_TRUE(inside_mapping(f, back));
    }
  }
  // File order: element size never increases (HF sorts by descending alignment).
  for (size_t i = 1; i < f.header().tensors.size(); ++i) {
    EXPECT_GE(dtype_size(f.header().tensors[i - 1].dtype), dtype_size(f.header().tensors[i].dtype));
  }
  EXPECT_EQ(f.get("scalar").dim(), 0);
  EXPECT_EQ(f.get("zero_size").shape(), (Shape{0, 4}));
}

TEST(SafetensorsRoundTrip, EmptyFileIsHfsEmptyFile) {
  TempDir dir;
  write_safetensors(dir / "e.safetensors", std::map<std::string, Tensor>{});
  // {} padded to 8 bytes with spaces, length 8: what HF writes for no tensors.
  EXPECT_EQ(read_bytes(dir / "e.safetensors"), testing::le64(8) + "{}      ");
  EXPECT_EQ(SafetensorsFile::open(dir / "e.safetensors").size(), 0u);
}

TEST(SafetensorsRoundTrip, TensorsKeepTheMappingAlive) {
  TempDir dir;
  Tensor t = random_tensor({64}, DType::kF32, 3);
  write_safetensors(dir / "k.safetensors", {{"x", t}});
  Tensor view;
  {
    SafetensorsFile f = SafetensorsFile::open(dir / "k.safetensors");
    view = f.get("x");
  }
  std::filesystem::remove(dir / "k.safetensors");  // the mapping survives unlink too
  EXPECT_TRUE(same_bytes(t, view));
}

TEST(SafetensorsRoundTrip, WritingThroughAViewNeverChangesTheFile) {
  TempDir dir;
  Tensor t = random_tensor({16}, DType::kF32, 4);
  write_safetensors(dir / "w.safetensors", {{"x", t}});
  std::string before = read_bytes(dir / "w.safetensors");
  {
    Tensor view = SafetensorsFile::open(dir / "w.safetensors").get("x");
    view.fill(42.0);  // copy-on-write page, private to this process
    EXPECT_EQ(view.item(3), 42.0);
  }
  EXPECT_EQ(read_bytes(dir / "w.safetensors"), before);
}

TEST(SafetensorsRoundTrip, NonContiguousTensorsAreWrittenInLogicalOrder) {
  TempDir dir;
  Tensor t = random_tensor({3, 4}, DType::kI32, 5).transpose(0, 1);
  ASSERT_FALSE(t.is_contiguous());
  write_safetensors(dir / "t.safetensors", {{"t", t}});
  Tensor back = SafetensorsFile::open(dir / "t.safetensors").get("t");
  EXPECT_EQ(back.shape(), (Shape{4, 3}));
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(back.item(i), t.item(i));
}

TEST(SafetensorsRoundTrip, LazyProducersAreCalledOncePerTensor) {
  TempDir dir;
  int calls = 0;
  std::vector<TensorToWrite> list;
  for (int i = 0; i < 3; ++i) {
    list.push_back({"p" + std::to_string(i), DType::kF32, {2}, [&calls, i] {
                      ++calls;
                      return Tensor::full({2}, i, DType::kF32);
                    }});
  }
  write_safetensors(dir / "lazy.safetensors", std::move(list));
  EXPECT_EQ(calls, 3);
  SafetensorsFile f = SafetensorsFile::open(dir / "lazy.safetensors");
  EXPECT_EQ(f.get("p2").item(1), 2.0);
}

TEST(SafetensorsRoundTrip, MisalignedTensorsFromOtherWritersAreCopiedAligned) {
  TempDir dir;
  // Padded so that the f32 data starts at an odd file offset, as a careless writer might do.
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  while ((8 + header.size()) % 4 != 1) header += ' ';
  ASSERT_NE((8 + header.size()) % 4, 0u);
  float values[2] = {1.5f, -2.25f};
  std::string data(reinterpret_cast<const char*>(values), 8);
  testing::write_bytes(dir / "m.safetensors", testing::safetensors_image(header, data, false));
  SafetensorsFile f = SafetensorsFile::open(dir / "m.safetensors");
  Tensor x = f.get("x");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data()) % 4, 0u);
  EXPECT_FALSE(inside_mapping(f, x));
  EXPECT_EQ(x.item(0), 1.5);
  EXPECT_EQ(x.item(1), -2.25);
  EXPECT_EQ(std::memcmp(f.bytes("x").data(), values, 8), 0);
}

TEST(SafetensorsWriter, FailureLeavesTheOldFileAndNoTemporaryFiles) {
  TempDir dir;
  auto path = dir / "model.safetensors";
  write_safetensors(path, {{"a", Tensor::full({4}, 1.0, DType::kF32)}});
  std::string before = read_bytes(path);

  std::vector<TensorToWrite> list;
  list.push_back(TensorToWrite::of("a", Tensor::full({1000}, 2.0, DType::kF32)));
  list.push_back(
      {"b", DType::kF32, {4}, []() -> Tensor { throw std::runtime_error("disk full"); }});
  EXPECT_THROW(write_safetensors(path, std::move(list)), std::runtime_error);
  EXPECT_EQ(read_bytes(path), before);

  // A producer whose tensor does not match its declaration.
  std::vector<TensorToWrite> wrong;
  wrong.push_back({"a", DType::kF32, {4}, [] { return Tensor::full({5}, 0.0, DType::kF32); }});
  std::string msg = error_message([&] { write_safetensors(path, std::move(wrong)); },
                                  ErrorKind::kInvalidArgument);
  EXPECT_NE(msg.find("'a'"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(path), before);

  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "model.safetensors");
  }
  EXPECT_EQ(entries, 1u);
}

TEST(SafetensorsWriter, RejectsBadArguments) {
  TempDir dir;
  auto path = dir / "x.safetensors";
  Tensor t = Tensor::zeros({2}, DType::kF32);
  EXPECT_NE(error_message(
                [&] {
                  write_safetensors(path, {{"__metadata__", t}});
                },
                ErrorKind::kInvalidArgument)
                .find("reserved"),
            std::string::npos);
  EXPECT_NE(error_message(
                [&] {
                  write_safetensors(path, {{"bad\xff", t}});
                },
                ErrorKind::kInvalidArgument)
                .find("UTF-8"),
            std::string::npos);
  std::vector<TensorToWrite> dup = {TensorToWrite::of("a", t), TensorToWrite::of("a", t)};
  EXPECT_NE(error_message([&] { write_safetensors(path, dup); }, ErrorKind::kInvalidArgument)
                .find("twice"),
            std::string::npos);
  EXPECT_NE(error_message(
                [&] {
                  write_safetensors(path, {{"a", Tensor()}});
                },
                ErrorKind::kInvalidArgument)
                .find("undefined"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  error_message(
      [&] {
        write_safetensors(dir / "no" / "such" / "dir.safetensors", {{"a", t}});
      },
      ErrorKind::kIo);
}

TEST(SafetensorsFile, ErrorsForMissingFilesAndTensors) {
  TempDir dir;
  std::string msg = error_message([&] { SafetensorsFile::open(dir / "absent.safetensors"); },
                                  ErrorKind::kNotFound);
  EXPECT_NE(msg.find("absent.safetensors"), std::string::npos);
  error_message([&] { SafetensorsFile::open(dir.path()); }, ErrorKind::kIo);
  write_safetensors(dir / "a.safetensors", {{"a", Tensor::zeros({1}, DType::kU8)}});
  SafetensorsFile f = SafetensorsFile::open(dir / "a.safetensors");
  EXPECT_TRUE(f.has("a"));
  EXPECT_FALSE(f.has("b"));
  msg = error_message([&] { f.get("b"); }, ErrorKind::kNotFound);
  EXPECT_NE(msg.find("'b'"), std::string::npos);
  EXPECT_NE(msg.find("a.safetensors"), std::string::npos);
}

}  // namespace
}  // namespace khub
