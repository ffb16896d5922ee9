// Training checkpoints over random tiny llama checkpoints (init-model's writer): names, dtypes
// and sharding of the source kept, other files copied, f32 masters, resume bit-identical, atomic
// replacement under injected failures, recovery of an interrupted swap, and the errors.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>

#include "core/error.h"
#include "io/safetensors_file.h"
#include "io/safetensors_model_files.h"
#include "models/causal_lm.h"
#include "models/init_weights.h"
#include "testutil/temp_dir.h"
#include "train/checkpoint.h"

namespace khub {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

// A random tiny llama in `dir` plus the side files a Hub model folder has.
void make_source(const fs::path& dir, const std::string& dtype, uint64_t max_shard_bytes,
                 bool tied = false) {
  InitModelOptions o;
  o.arch = "llama";
  o.preset = "tiny";
  o.dtype = dtype;
  o.seed = 5;
  o.max_shard_bytes = max_shard_bytes;
  o.overrides = {{"tie_word_embeddings", tied}};
  write_random_checkpoint(o, dir.string());
  write_file(dir / "tokenizer.json", "{\"fake\": \"tokenizer\"}");
  write_file(dir / "tokenizer_config.json", "{\"eos_token\": \"</s>\"}");
  write_file(dir / "generation_config.json", "{\"do_sample\": false}");
  write_file(dir / "chat_template.jinja", "{{ messages }}");
}

// The model's parameters as a trainer would hold them: owned f32 copies, zero grads.
std::vector<Parameter> params_from(const fs::path& dir) {
  SafetensorsModelFiles files = SafetensorsModelFiles::open(dir);
  std::vector<Parameter> params;
  for (const std::string& name : files.names()) {
    Tensor src = files.get(name);
    Tensor value = Tensor::empty(src.shape(), DType::kF32);
    value.copy_from(src);
    params.push_back({name, value, Tensor::zeros(src.shape(), DType::kF32)});
  }
  return params;
}

void fill_grads(std::vector<Parameter>& params, int step) {
  for (size_t k = 0; k < params.size(); ++k) {
    float* g = params[k].grad.data_as<float>();
    for (int64_t i = 0; i < params[k].grad.numel(); ++i)
      g[i] = static_cast<float>(std::sin(0.01 * i + 0.3 * step + k));
  }
}

void train_steps(std::vector<Parameter>& params, Optimizer& opt, int from, int to) {
  for (int s = from; s < to; ++s) {
    fill_grads(params, s);
    opt.step();
  }
}

// Every file of a folder and its bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_file(e.path());
  return out;
}

// Names in `parent` that start with `stem` + "." (leftover .tmp-/.old- folders).
std::vector<std::string> leftovers(const fs::path& parent, const std::string& stem) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(parent)) {
    std::string name = e.path().filename().string();
    if (name.rfind(stem + ".", 0) == 0) out.push_back(name);
  }
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().data(), b.contiguous().data(), a.nbytes()) == 0;
}

struct CheckpointTest : ::testing::Test {
  TempDir tmp;
  void TearDown() override { set_checkpoint_test_hooks({}); }
};

void check_round_trip(const fs::path& root, const std::string& dtype, uint64_t max_shard) {
  const fs::path src = root / "src", out = root / "ckpt";
  make_source(src, dtype, max_shard);
  auto params = params_from(src);
  AdamW opt(params, {.lr = 1e-2});
  train_steps(params, opt, 0, 3);
  save_checkpoint(out, src, params, opt, {{"step", 3}, {"data", {{"epoch", 0}}}});

  // Weights: the source's names, dtypes, shapes and files; values are the parameters cast.
  SafetensorsModelFiles a = SafetensorsModelFiles::open(src), b = SafetensorsModelFiles::open(out);
  EXPECT_EQ(a.sharded(), b.sharded());
  EXPECT_EQ(a.names(), b.names());
  EXPECT_EQ(a.files().size(), b.files().size());
  const DType want_dtype = dtype == "bf16" ? DType::kBF16 : DType::kF32;
  for (const Parameter& p : params) {
    EXPECT_EQ(b.info(p.name).dtype, want_dtype) << p.name;
    EXPECT_EQ(b.info(p.name).shape, a.info(p.name).shape);
    EXPECT_EQ(b.file_of(p.name).path().filename(), a.file_of(p.name).path().filename());
    EXPECT_TRUE(same_bits(b.get(p.name), p.value.to(want_dtype))) << p.name;
    EXPECT_FALSE(same_bits(b.get(p.name), a.get(p.name))) << p.name << " was not updated";
  }
  if (a.sharded()) EXPECT_EQ(read_file(b.index_path()), read_file(a.index_path()));

  // Side files copied byte for byte; config.json too.
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json", "chat_template.jinja"})
    EXPECT_EQ(read_file(out / f), read_file(src / f)) << f;

  // Optimizer state, and masters exactly when the saved dtype is not f32.
  SafetensorsFile o = SafetensorsFile::open(out / "optimizer.safetensors");
  EXPECT_EQ(o.metadata().at("optimizer"), "adamw");
  EXPECT_EQ(o.metadata().at("step"), "3");
  for (const Parameter& p : params) {
    EXPECT_TRUE(same_bits(o.get("exp_avg." + p.name), opt.state().at("exp_avg." + p.name)));
    EXPECT_TRUE(o.has("exp_avg_sq." + p.name));
    EXPECT_EQ(o.has("master." + p.name), want_dtype != DType::kF32);
    if (o.has("master." + p.name)) EXPECT_TRUE(same_bits(o.get("master." + p.name), p.value));
  }
  json state = json::parse(read_file(out / "trainer_state.json"));
  EXPECT_EQ(state["step"], 3);
  EXPECT_EQ(state["data"]["epoch"], 0);
  EXPECT_EQ(state["format"], kCheckpointFormat);
  EXPECT_EQ(state["optimizer"]["type"], "adamw");
  EXPECT_EQ(state["optimizer_step"], 3);
  EXPECT_TRUE(state.contains("khub_version"));
  EXPECT_TRUE(is_training_checkpoint(out));
  EXPECT_FALSE(is_training_checkpoint(src));

  // Resume: load the saved model (bf16 → f32 loses bits), then the checkpoint restores the
  // masters; two more steps agree bit for bit with the uninterrupted run.
  auto resumed = params_from(out);
  auto opt2 = make_optimizer(state["optimizer"], resumed);
  json loaded;
  load_checkpoint(out, resumed, *opt2, loaded);
  EXPECT_EQ(loaded["step"], 3);
  EXPECT_EQ(opt2->step_count(), 3);
  train_steps(params, opt, 3, 5);
  train_steps(resumed, *opt2, 3, 5);
  for (size_t k = 0; k < params.size(); ++k)
    EXPECT_TRUE(same_bits(params[k].value, resumed[k].value)) << params[k].name;
  EXPECT_TRUE(leftovers(root, "ckpt").empty());
}

TEST_F(CheckpointTest, RoundTripSingleFileBf16) {
  check_round_trip(tmp.path(), "bf16", 2ull << 30);
}
TEST_F(CheckpointTest, RoundTripSingleFileF32) { check_round_trip(tmp.path(), "f32", 2ull << 30); }
TEST_F(CheckpointTest, RoundTripShardedBf16) { check_round_trip(tmp.path(), "bf16", 60000); }
TEST_F(CheckpointTest, RoundTripShardedF32) { check_round_trip(tmp.path(), "f32", 120000); }

TEST_F(CheckpointTest, ShardedSourceReallyHasShards) {
  make_source(tmp / "src", "bf16", 60000);
  SafetensorsModelFiles f = SafetensorsModelFiles::open(tmp / "src");
  EXPECT_TRUE(f.sharded());
  EXPECT_GT(f.files().size(), 2u);
}

TEST_F(CheckpointTest, SavingOverACheckpointFromItselfReplacesIt) {
  for (bool exchange : {true, false}) {
    set_checkpoint_test_hooks({nullptr, !exchange});
    const fs::path src = tmp / "src", out = tmp / "ckpt";
    fs::remove_all(src);
    fs::remove_all(out);
    make_source(src, "bf16", 2ull << 30);
    auto params = params_from(src);
    SGD opt(params, {.lr = 0.1, .momentum = 0.9});
    train_steps(params, opt, 0, 1);
    save_checkpoint(out, src, params, opt, {{"step", 1}});
    train_steps(params, opt, 1, 2);
    save_checkpoint(out, out, params, opt, {{"step", 2}});  // a resumed run saving in place
    EXPECT_EQ(json::parse(read_file(out / "trainer_state.json"))["step"], 2);
    SafetensorsModelFiles b = SafetensorsModelFiles::open(out);
    for (const Parameter& p : params)
      EXPECT_TRUE(same_bits(b.get(p.name), p.value.to(DType::kBF16))) << p.name;
    EXPECT_EQ(read_file(out / "tokenizer.json"), read_file(src / "tokenizer.json"));
    EXPECT_TRUE(leftovers(tmp.path(), "ckpt").empty()) << "exchange " << exchange;
  }
}

TEST_F(CheckpointTest, FailureMidSaveLeavesThePreviousCheckpointIntact) {
  const fs::path src = tmp / "src", out = tmp / "ckpt";
  make_source(src, "bf16", 60000);
  auto params = params_from(src);
  AdamW opt(params);
  train_steps(params, opt, 0, 1);
  save_checkpoint(out, src, params, opt, {{"step", 1}});
  const auto good = snapshot(out);
  train_steps(params, opt, 1, 2);
  for (const char* where :
       {"weights", "optimizer", "files", "trainer_state", "before-swap", "between-renames"}) {
    set_checkpoint_test_hooks({[&](std::string_view stage) {
                                 if (stage == where) throw Error(ErrorKind::kIo, "disk full");
                               },
                               /*no_rename_exchange=*/true});
    try {
      save_checkpoint(out, src, params, opt, {{"step", 2}});
      ADD_FAILURE() << "no error at " << where;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(std::string(e.what()).find("disk full"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find(out.string()), std::string::npos) << e.what();
    }
    EXPECT_EQ(snapshot(out), good) << where;
    EXPECT_TRUE(leftovers(tmp.path(), "ckpt").empty()) << where;
  }
}

TEST_F(CheckpointTest, WriteErrorNamesThePath) {
  make_source(tmp / "src", "f32", 2ull << 30);
  auto params = params_from(tmp / "src");
  AdamW opt(params);
  write_file(tmp / "file", "x");
  try {
    save_checkpoint(tmp / "file" / "ckpt", tmp / "src", params, opt, json::object());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find((tmp / "file").string()), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, InterruptedSwapIsRecovered) {
  const fs::path src = tmp / "src", out = tmp / "ckpt";
  make_source(src, "f32", 2ull << 30);
  auto params = params_from(src);
  AdamW opt(params);
  save_checkpoint(out, src, params, opt, json::object());
  const auto good = snapshot(out);
  // A process that died between the two renames: <out> missing, <out>.old-<pid> complete.
  pid_t dead = 4'000'000;
  while (kill(dead, 0) == 0 || errno != ESRCH) --dead;
  const fs::path old = tmp / ("ckpt.old-" + std::to_string(dead));
  fs::rename(out, old);
  fs::create_directory(tmp / ("ckpt.tmp-" + std::to_string(dead)));  // its half-written folder
  EXPECT_TRUE(recover_checkpoint_dir(out));
  EXPECT_EQ(snapshot(out), good);
  EXPECT_TRUE(leftovers(tmp.path(), "ckpt").empty());
  // Died after the second rename: <out> is the new one, the .old is just removed.
  fs::create_directory(old);
  write_file(old / "stale", "x");
  EXPECT_FALSE(recover_checkpoint_dir(out));
  EXPECT_EQ(snapshot(out), good);
  EXPECT_TRUE(leftovers(tmp.path(), "ckpt").empty());
  // load_checkpoint recovers too.
  fs::rename(out, old);
  json state;
  load_checkpoint(out, params, opt, state);
  EXPECT_TRUE(fs::exists(out));
}

TEST_F(CheckpointTest, RefusesToReplaceAFolderThatIsNoCheckpoint) {
  const fs::path src = tmp / "src";
  make_source(src, "f32", 2ull << 30);
  auto params = params_from(src);
  AdamW opt(params);
  const auto before = snapshot(src);
  EXPECT_THROW(save_checkpoint(src, src, params, opt, json::object()), Error);
  EXPECT_EQ(snapshot(src), before);
  fs::create_directory(tmp / "empty");
  save_checkpoint(tmp / "empty", src, params, opt, json::object());  // an empty folder is fine
  EXPECT_TRUE(is_training_checkpoint(tmp / "empty"));
}

// With a real model: CausalLM::parameters() are the checkpoint's tensors (stacked q/k/v and
// gate/up as row views, a tied lm_head folded into the embedding), so a trained model saves
// under the source names and a resumed one is the same model.
TEST_F(CheckpointTest, CausalLMParametersRoundTrip) {
  for (bool tied : {false, true}) {
    const fs::path src = tmp / "src", out = tmp / "ckpt";
    fs::remove_all(src);
    fs::remove_all(out);
    make_source(src, "bf16", 2ull << 30, tied);
    auto model = CausalLM::from_pretrained(src.string());
    std::vector<Parameter>& params = model->parameters();
    std::vector<std::string> names;
    for (const Parameter& p : params) names.push_back(p.name);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, SafetensorsModelFiles::open(src).names()) << "tied " << tied;
    TrainBatch batch{{{1, 2, 3, 4, 5}, {6, 7, 8}}, {}};
    AdamW opt(params, {.lr = 1e-2});
    for (int s = 0; s < 2; ++s) {
      opt.zero_grad();
      model->loss(batch).backward();
      opt.step();
    }
    save_checkpoint(out, src, params, opt, {{"step", 2}});
    EXPECT_EQ(SafetensorsModelFiles::open(out).names(), SafetensorsModelFiles::open(src).names());

    auto model2 = CausalLM::from_pretrained(out.string());
    std::vector<Parameter>& params2 = model2->parameters();
    AdamW opt2(params2, {.lr = 1e-2});
    json state;
    load_checkpoint(out, params2, opt2, state);
    for (CausalLM* m : {model.get(), model2.get()}) {
      m->zero_grad();
      m->loss(batch).backward();
    }
    opt.step();
    opt2.step();
    ASSERT_EQ(params.size(), params2.size());
    for (size_t k = 0; k < params.size(); ++k)
      EXPECT_TRUE(same_bits(params[k].value, params2[k].value)) << params[k].name;
    EXPECT_EQ(model->loss(batch, false).item(), model2->loss(batch, false).item());
  }
}

TEST_F(CheckpointTest, Errors) {
  const fs::path src = tmp / "src", out = tmp / "ckpt";
  make_source(src, "bf16", 2ull << 30);
  auto params = params_from(src);
  AdamW opt(params);
  train_steps(params, opt, 0, 1);
  auto expect_error = [](const std::function<void()>& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no error, expected " << part;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  // A parameter the source does not have, or of another shape.
  auto extra = params;
  extra.push_back(
      {"model.extra.weight", Tensor::zeros({2}, DType::kF32), Tensor::zeros({2}, DType::kF32)});
  AdamW opt_extra(extra);
  expect_error([&] { save_checkpoint(out, src, extra, opt_extra, json::object()); },
               "'model.extra.weight' is not in the source checkpoint");
  EXPECT_FALSE(fs::exists(out));

  save_checkpoint(out, src, params, opt, json::object());
  json state;
  expect_error([&] { load_checkpoint(src, params, opt, state); },
               "is not a khub training checkpoint");
  SGD sgd(params);
  expect_error([&] { load_checkpoint(out, params, sgd, state); },
               "written with the adamw optimizer; this run uses sgd");
  auto fewer = params;
  fewer.pop_back();
  AdamW opt_fewer(fewer);
  expect_error([&] { load_checkpoint(out, fewer, opt_fewer, state); },
               "but the model has no parameter '" + params.back().name + "'");
  auto reshaped = params;
  reshaped[0].value = reshaped[0].value.view({-1});
  reshaped[0].grad = reshaped[0].grad.view({-1});
  AdamW opt_reshaped(reshaped);
  expect_error([&] { load_checkpoint(out, reshaped, opt_reshaped, state); }, "has shape");
  try {
    load_checkpoint(tmp / "nowhere", params, opt, state);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
}

}  // namespace
}  // namespace khub
