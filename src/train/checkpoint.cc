// Training checkpoints: writing into a temporary sibling, swapping it in, recovering from a save
// that died part-way, and loading for --resume (checkpoint.h).
#include "train/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "core/error.h"
#include "core/logging.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/safetensors_file.h"
#include "io/safetensors_model_files.h"
#include "io/safetensors_writer.h"
#include "train/interrupt.h"

#ifndef KHUB_VERSION_STRING
#define KHUB_VERSION_STRING "unknown"
#endif

namespace khub {
namespace fs = std::filesystem;
namespace {

CheckpointTestHooks g_hooks;

void stage(std::string_view name) {
  if (g_hooks.at) g_hooks.at(name);
}

fs::path normalized(const fs::path& p) {
  fs::path out = fs::absolute(p).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();
  return out;
}

fs::path sibling(const fs::path& dir, std::string_view tag, long pid) {
  return dir.parent_path() / (dir.filename().string() + std::string(tag) + std::to_string(pid));
}

std::string errno_text() { return std::strerror(errno); }

void rename_or_fail(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    fail(ErrorKind::kIo, "cannot rename ", from.string(), " to ", to.string(), ": ", errno_text());
}

// Weight files and training state of a source folder are rewritten, never copied; so are the
// weight formats khub does not write (a stale pytorch_model.bin would shadow nothing but mislead).
bool is_weight_or_state_file(const std::string& name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (std::string_view s : {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack",
                             ".gguf", ".safetensors.index.json", ".bin.index.json"})
    if (ends_with(s)) return true;
  return name == kTrainerStateFile;
}

// Copies a file's bytes through AtomicFileWriter, so the copy is fsync'ed like everything else.
void copy_file_synced(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, "cannot read ", from.string(), ": ", errno_text());
  AtomicFileWriter out(to);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) out.write(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) fail(ErrorKind::kIo, "read error on ", from.string());
  out.commit();
}

bool process_alive(long pid) {
  return pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// The pid after `prefix` in name, or -1 when name is not prefix + digits.
long pid_suffix(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  long pid = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 1'000'000'000) return -1;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid;
}

// Swaps the finished temporary folder in (see checkpoint.h).
void swap_into_place(const fs::path& tmp, const fs::path& out_dir) {
  const fs::path parent = out_dir.parent_path();
  if (!fs::exists(out_dir)) {
    rename_or_fail(tmp, out_dir);
    fsync_directory(parent);
    return;
  }
  if (!g_hooks.no_rename_exchange) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out_dir.c_str(), RENAME_EXCHANGE) == 0) {
      fsync_directory(parent);
      std::error_code ec;
      fs::remove_all(tmp, ec);  // now the previous checkpoint; a leftover is cleaned up later
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      fail(ErrorKind::kIo, "cannot swap ", tmp.string(), " with ", out_dir.string(), ": ",
           errno_text());
  }
  const fs::path old = sibling(out_dir, ".old-", ::getpid());
  std::error_code ec;
  fs::remove_all(old, ec);
  rename_or_fail(out_dir, old);
  try {
    stage("between-renames");
    rename_or_fail(tmp, out_dir);
  } catch (...) {
    if (::rename(old.c_str(), out_dir.c_str()) != 0)
      log_error("checkpoint: could not move ", old.string(), " back to ", out_dir.string(), ": ",
                errno_text(), " (recover_checkpoint_dir restores it on the next start)");
    throw;
  }
  fsync_directory(parent);
  fs::remove_all(old, ec);
}

void write_checkpoint_files(const fs::path& tmp, const fs::path& source_dir,
                            const SafetensorsModelFiles& source,
                            const std::vector<Parameter>& params, const Optimizer& optimizer,
                            const nlohmann::json& trainer_state) {
  std::map<std::string, const Parameter*> by_name;
  for (const Parameter& p : params) by_name[p.name] = &p;
  const Parameter* embed = by_name.count("model.embed_tokens.weight")
                               ? by_name.at("model.embed_tokens.weight")
                               : nullptr;

  // Every parameter must have its place in the source checkpoint.
  std::map<std::string, DType> saved_dtype;
  for (const Parameter& p : params) {
    KHUB_CHECK_ARG(source.has(p.name), "checkpoint: parameter '", p.name,
                   "' is not in the source checkpoint ", source_dir.string());
    const SafetensorsTensorInfo& info = source.info(p.name);
    KHUB_CHECK_ARG(info.shape == p.stored_shape(), "checkpoint: parameter '", p.name,
                   "' has shape ", shape_str(p.stored_shape()), " but the source checkpoint has ",
                   shape_str(info.shape));
    KHUB_CHECK_ARG(dtype_is_floating(info.dtype), "checkpoint: the source stores parameter '",
                   p.name, "' as ", dtype_name(info.dtype), ", not a floating type");
    KHUB_CHECK_ARG(p.value.dtype() == DType::kF32, "checkpoint: parameter '", p.name, "' is ",
                   p.value.describe(), ", expected f32 master weights");
    saved_dtype[p.name] = info.dtype;
  }

  // Weights: the source's files, tensor for tensor.
  for (const SafetensorsFile& file : source.files()) {
    std::vector<TensorToWrite> tensors;
    for (const SafetensorsTensorInfo& info : file.header().tensors) {
      TensorToWrite t{info.name, info.dtype, info.shape, nullptr};
      const Parameter* p = by_name.count(info.name) ? by_name.at(info.name) : nullptr;
      // A tied lm_head is no parameter of its own; a source that stores it anyway gets the
      // trained embedding rather than its stale copy.
      if (!p && info.name == "lm_head.weight" && embed && embed->value.shape() == info.shape)
        p = embed;
      if (p) {
        const DType dtype = info.dtype;
        t.produce = [p, dtype] {
          Tensor v = p->value.to(Device::cpu());
          if (p->to_checkpoint) v = p->to_checkpoint(v).contiguous();
          return v.to(dtype);
        };
      } else {
        const SafetensorsFile* f = &file;
        std::string name = info.name;
        t.produce = [f, name] { return f->get(name); };
      }
      tensors.push_back(std::move(t));
    }
    write_safetensors(tmp / file.path().filename(), std::move(tensors), file.metadata());
  }
  if (source.sharded()) copy_file_synced(source.index_path(), tmp / kSafetensorsIndexFile);
  stage("weights");

  // Optimizer state and the f32 masters of parameters saved in another dtype.
  std::vector<TensorToWrite> opt;
  for (const auto& [name, t] : optimizer.state()) opt.push_back(TensorToWrite::of(name, t));
  for (const Parameter& p : params)
    if (saved_dtype.at(p.name) != DType::kF32)
      opt.push_back(TensorToWrite::of("master." + p.name, p.value));
  write_safetensors(tmp / kOptimizerStateFile, std::move(opt),
                    {{"format", "khub-optimizer-state"},
                     {"optimizer", optimizer.name()},
                     {"step", std::to_string(optimizer.step_count())}});
  stage("optimizer");

  // Every other top-level file of the source folder (config, tokenizer, templates, ...).
  std::set<std::string> weight_files;
  for (const SafetensorsFile& file : source.files())
    weight_files.insert(file.path().filename().string());
  for (const fs::directory_entry& e : fs::directory_iterator(source_dir)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_regular_file()) continue;
    if (weight_files.count(name) || is_weight_or_state_file(name)) continue;
    copy_file_synced(e.path(), tmp / name);
  }
  stage("files");

  nlohmann::json state = trainer_state.is_null() ? nlohmann::json::object() : trainer_state;
  state["format"] = kCheckpointFormat;
  state["khub_version"] = KHUB_VERSION_STRING;
  state["optimizer"] = optimizer.config();
  state["optimizer_step"] = optimizer.step_count();
  write_file_atomic(tmp / kTrainerStateFile, state.dump(2) + "\n");
  stage("trainer_state");
  fsync_directory(tmp);
}

}  // namespace

void set_checkpoint_test_hooks(CheckpointTestHooks hooks) { g_hooks = std::move(hooks); }

bool is_training_checkpoint(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / kOptimizerStateFile, ec)) return false;
  if (!fs::is_regular_file(dir / kTrainerStateFile, ec)) return false;
  try {
    nlohmann::json s = read_json_file(dir / kTrainerStateFile);
    return s.is_object() && s.value("format", "") == kCheckpointFormat;
  } catch (const Error&) {
    return false;
  }
}

bool recover_checkpoint_dir(const fs::path& out_dir_in) {
  const fs::path out_dir = normalized(out_dir_in);
  const fs::path parent = out_dir.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) return false;
  const std::string base = out_dir.filename().string();
  std::vector<fs::path> olds, tmps;
  for (const fs::directory_entry& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    long pid = pid_suffix(name, base + ".old-");
    if (pid >= 0 && (pid == ::getpid() || !process_alive(pid))) olds.push_back(e.path());
    pid = pid_suffix(name, base + ".tmp-");
    if (pid >= 0 && (pid == ::getpid() || !process_alive(pid))) tmps.push_back(e.path());
  }
  bool restored = false;
  if (!fs::exists(out_dir, ec) && !olds.empty()) {
    // The newest .old is the checkpoint that was in place when the swap was interrupted.
    std::sort(olds.begin(), olds.end(), [](const fs::path& a, const fs::path& b) {
      std::error_code e1, e2;
      return fs::last_write_time(a, e1) < fs::last_write_time(b, e2);
    });
    rename_or_fail(olds.back(), out_dir);
    fsync_directory(parent);
    log_warn("checkpoint: restored ", out_dir.string(), " from ", olds.back().filename().string(),
             " (a save was interrupted between its two renames)");
    olds.pop_back();
    restored = true;
  }
  for (const fs::path& p : olds) fs::remove_all(p, ec);
  for (const fs::path& p : tmps) fs::remove_all(p, ec);
  return restored;
}

void save_checkpoint(const fs::path& out_dir_in, const fs::path& source_model_dir,
                     const std::vector<Parameter>& params, const Optimizer& optimizer,
                     const nlohmann::json& trainer_state) {
  KHUB_CHECK_ARG(trainer_state.is_object() || trainer_state.is_null(),
                 "checkpoint: the trainer state must be a JSON object, got ",
                 json_type_name(trainer_state));
  CriticalSection critical;
  const fs::path out_dir = normalized(out_dir_in);
  recover_checkpoint_dir(out_dir);
  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    KHUB_CHECK_ARG(fs::is_directory(out_dir, ec), "checkpoint: ", out_dir.string(),
                   " exists and is not a folder");
    KHUB_CHECK_ARG(fs::is_empty(out_dir, ec) || is_training_checkpoint(out_dir),
                   "checkpoint: ", out_dir.string(),
                   " exists and is not a khub training checkpoint; refusing to replace it "
                   "(choose a new or empty output folder)");
  }
  KHUB_CHECK_ARG(fs::is_directory(source_model_dir, ec), "checkpoint: the source model folder ",
                 source_model_dir.string(), " does not exist");
  SafetensorsModelFiles source = SafetensorsModelFiles::open(source_model_dir);

  const fs::path tmp = sibling(out_dir, ".tmp-", ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec)
    fail(ErrorKind::kIo, "checkpoint: cannot create the folder ", tmp.string(), ": ", ec.message());
  try {
    write_checkpoint_files(tmp, source_model_dir, source, params, optimizer, trainer_state);
    stage("before-swap");
    swap_into_place(tmp, out_dir);
  } catch (const Error& e) {
    fs::remove_all(tmp, ec);
    fail(e.kind(), "saving the checkpoint ", out_dir.string(), " failed: ", e.what(),
         " (the previous checkpoint, if any, is unchanged)");
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

void load_checkpoint(const fs::path& dir, const std::vector<Parameter>& params,
                     Optimizer& optimizer, nlohmann::json& trainer_state) {
  recover_checkpoint_dir(dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    fail(ErrorKind::kNotFound, "checkpoint ", dir.string(), " does not exist");
  KHUB_CHECK_ARG(is_training_checkpoint(dir), dir.string(),
                 " is not a khub training checkpoint (it needs ", kTrainerStateFile,
                 " with format \"", kCheckpointFormat, "\" and ", kOptimizerStateFile,
                 ", as khub train writes them)");
  nlohmann::json state = read_json_file(dir / kTrainerStateFile);
  SafetensorsFile opt = SafetensorsFile::open(dir / kOptimizerStateFile);
  const auto& meta = opt.metadata();
  auto meta_of = [&](const char* key) -> std::string {
    auto it = meta.find(key);
    KHUB_CHECK_ARG(it != meta.end(), (dir / kOptimizerStateFile).string(), ": metadata '", key,
                   "' is missing");
    return it->second;
  };
  const std::string kind = meta_of("optimizer");
  KHUB_CHECK_ARG(kind == optimizer.name(), dir.string(), " was written with the ", kind,
                 " optimizer; this run uses ", optimizer.name());
  int64_t step = 0;
  try {
    step = std::stoll(meta_of("step"));
  } catch (const std::logic_error&) {
    fail(ErrorKind::kFormat, (dir / kOptimizerStateFile).string(), ": metadata 'step' is '",
         meta_of("step"), "', not a number");
  }

  // Check every name and shape before anything changes.
  SafetensorsModelFiles weights = SafetensorsModelFiles::open(dir);
  std::set<std::string> names;
  std::vector<Tensor> sources;
  for (const Parameter& p : params) {
    names.insert(p.name);
    const std::string master = "master." + p.name;
    Tensor t;
    if (opt.has(master)) {
      t = opt.get(master);
    } else {
      KHUB_CHECK_ARG(weights.has(p.name), dir.string(), ": the model's parameter '", p.name,
                     "' is not in the checkpoint (a checkpoint of another model?)");
      t = weights.get(p.name);
      // Stored in another layout (gpt-oss's experts): back to the parameter's.
      if (p.from_checkpoint && t.shape() == p.stored_shape()) t = p.from_checkpoint(t);
    }
    KHUB_CHECK_ARG(t.shape() == p.value.shape(), dir.string(), ": parameter '", p.name,
                   "' has shape ", shape_str(t.shape()), " in the checkpoint but ",
                   shape_str(p.value.shape()), " in the model");
    sources.push_back(t);
  }
  std::map<std::string, Tensor> opt_state;
  for (const std::string& name : opt.names()) {
    if (name.rfind("master.", 0) == 0) {
      KHUB_CHECK_ARG(names.count(name.substr(7)), dir.string(), ": the checkpoint has '", name,
                     "', but the model has no parameter '", name.substr(7), "'");
      continue;
    }
    opt_state[name] = opt.get(name);
  }
  try {
    optimizer.load_state(opt_state, step);  // validates fully before changing anything
  } catch (const Error& e) {
    fail(e.kind(), dir.string(), ": ", e.what());
  }
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor value = params[i].value;                 // a handle on the model's memory
    value.copy_from(sources[i].to(value.dtype()));  // a CPU conversion, then the copy
  }
  trainer_state = std::move(state);
}

}  // namespace khub
