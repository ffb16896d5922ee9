#include "serve/hub_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/error.h"
#include "core/logging.h"
#include "hub/ref/hub_location.h"
#include "hub/ref/repo_names.h"
#include "hub/ref/semver.h"
#include "hub/store/content_hash.h"
#include "hub/store/file_lock.h"
#include "hub/store/hub_cache.h"
#include "hub/store/publish.h"
#include "loader/metadata.h"

namespace khub::serve {
namespace {

using namespace khub::hub::net;

std::string read_ref_file(const fs::path& p) {
  auto text = read_small_file(p);
  if (!text) return "";
  std::string s = *text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  return s;
}

void list_refs_under(const fs::path& dir, const std::string& kind, std::vector<GitRef>& out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_symlink() || !it->is_regular_file()) continue;
    std::string name = it->path().lexically_relative(dir).generic_string();
    if (!is_safe_ref_name(name)) continue;
    std::string rev = read_ref_file(it->path());
    if (!is_safe_revision_id(rev)) {
      log_warn("khub serve: ignoring ref ", it->path().string(), ": no revision id in it");
      continue;
    }
    out.push_back({name, "refs/" + kind + "/" + name, rev});
  }
  std::sort(out.begin(), out.end(),
            [](const GitRef& a, const GitRef& b) { return a.name < b.name; });
}

long major_of(const std::string& name) {
  if (name.size() < 2 || name[0] != 'v') return -1;
  if (!std::all_of(name.begin() + 1, name.end(), ::isdigit)) return -1;
  return std::atol(name.c_str() + 1);
}

// git's tree id of a folder from the ids of its direct children.
std::string tree_id_of(const std::vector<const IndexedEntry*>& children) {
  struct E {
    std::string key, mode, name, raw;
  };
  std::vector<E> es;
  for (const auto* c : children) {
    std::string name =
        c->path.substr(c->path.rfind('/') == std::string::npos ? 0 : c->path.rfind('/') + 1);
    es.push_back({c->is_dir ? name + "/" : name,
                  c->is_dir ? "40000" : (c->executable ? "100755" : "100644"), name,
                  from_hex(c->oid)});
  }
  std::sort(es.begin(), es.end(), [](const E& a, const E& b) { return a.key < b.key; });
  std::string body;
  for (const auto& e : es) body += e.mode + " " + e.name + '\0' + e.raw;
  Hasher h(HashAlgo::kSha1);
  h.update("tree " + std::to_string(body.size()) + '\0');
  h.update(body);
  return h.finish_hex();
}

// Links every file of `base` into `tree` unless it lies under a `replace` folder or the upload
// already has it; a file/folder clash between the two is the uploader's error.
void add_base_files(const fs::path& base, const fs::path& tree,
                    const std::vector<std::string>& replace) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    std::string rel = it->path().lexically_relative(base).generic_string();
    bool replaced = false;
    for (const auto& r : replace) replaced |= rel == r || rel.rfind(r + "/", 0) == 0;
    // A carried variant's signatures name the base revision: they cannot vouch for the new one
    // (docs/kernel-hub.md §8), so they stay behind, as in a local publish.
    if (replaced || !is_safe_repo_path(rel) || khub::hub::is_revision_signature_path(rel)) continue;
    fs::path dest = tree / rel;
    std::error_code e2;
    if (fs::exists(dest, e2)) continue;  // the upload provides this file
    fs::path parent = dest.parent_path();
    if (fs::exists(parent, e2) && !fs::is_directory(parent, e2)) {
      throw StoreError(400, "", "'" + rel + "' of the base revision clashes with an uploaded file");
    }
    fs::create_directories(parent);
    if (::link(it->path().c_str(), dest.c_str()) != 0) fs::copy_file(it->path(), dest);
  }
  if (ec) throw StoreError(500, "", "cannot list the base revision: " + ec.message());
}

}  // namespace

namespace detail {

std::string iso_time(time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf;
}

std::string random_suffix() {
  static std::atomic<uint64_t> n{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" + std::to_string(rng());
}

void write_ref(const fs::path& file, const std::string& rev) {
  write_file_atomic(file, rev + "\n");
}

}  // namespace detail

using namespace detail;

bool is_lfs_style(const std::string& path, uint64_t size) {
  if (size >= 10'000'000) return true;
  static const std::set<std::string> kBinary = {
      "so",    "dylib",   "dll",  "bin", "safetensors", "pt",   "pth",      "ckpt",  "gz",
      "xz",    "zst",     "bz2",  "tar", "zip",         "onnx", "metallib", "cubin", "fatbin",
      "hsaco", "a",       "o",    "lib", "exe",         "whl",  "npz",      "npy",   "pkl",
      "h5",    "msgpack", "wasm", "png", "jpg",         "jpeg", "gguf"};
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return kBinary.count(ext) > 0;
}

std::string lfs_pointer(const std::string& sha256, uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256 + "\nsize " +
         std::to_string(size) + "\n";
}

const IndexedEntry* RevisionIndex::find(const std::string& path) const {
  auto it = by_path.find(path);
  return it == by_path.end() ? nullptr : &entries[it->second];
}

std::string content_revision_id(const fs::path& tree) {
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(tree, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    if (!S_ISREG(st.st_mode)) {
      throw StoreError(400, "", "'" + it->path().string() + "' is not a regular file");
    }
    files.emplace_back(it->path().lexically_relative(tree).generic_string(),
                       file_hash_hex(it->path(), HashAlgo::kSha256));
  }
  if (ec) throw StoreError(500, "", "cannot list " + tree.string() + ": " + ec.message());
  return khub::hub::revision_id(std::move(files));
}

HubStore::HubStore(fs::path root, RevisionIdFn revision_id)
    : root_(std::move(root)), revision_id_(std::move(revision_id)) {
  hub::require_hub_directory(root_, "hub root");
  if (!revision_id_) revision_id_ = content_revision_id;
}

fs::path HubStore::repo_dir(const std::string& repo_id) const {
  check_repo_id(repo_id);
  return root_ / repo_id;
}

bool HubStore::repo_exists(const std::string& repo_id) const {
  if (!is_valid_repo_id(repo_id)) return false;
  std::error_code ec;
  return fs::is_directory(repo_dir(repo_id) / "revisions", ec) ||
         fs::is_directory(repo_dir(repo_id) / "refs", ec);
}

bool HubStore::is_private(const std::string& repo_id) const {
  std::error_code ec;
  return fs::exists(repo_dir(repo_id) / "private", ec);
}

bool HubStore::is_gated(const std::string& repo_id) const {
  std::error_code ec;
  return fs::exists(repo_dir(repo_id) / "gated", ec);
}

RefList HubStore::refs(const std::string& repo_id) const {
  RefList r;
  list_refs_under(repo_dir(repo_id) / "refs" / "heads", "heads", r.branches);
  list_refs_under(repo_dir(repo_id) / "refs" / "tags", "tags", r.tags);
  return r;
}

fs::path HubStore::revision_dir(const std::string& repo_id, const std::string& revision) const {
  check_revision_id(revision, "a revision request");
  return repo_dir(repo_id) / "revisions" / revision;
}

std::optional<std::string> HubStore::resolve(const std::string& repo_id,
                                             const std::string& rev) const {
  if (rev.empty()) return std::nullopt;
  if (rev == "HEAD") {
    // As on the Hub: HEAD is the default branch.
    auto def = default_branch(repo_id);
    return def ? resolve(repo_id, "refs/heads/" + *def) : std::nullopt;
  }
  RefList r = refs(repo_id);
  std::string name = rev;
  if (name.rfind("refs/heads/", 0) == 0 || name.rfind("refs/tags/", 0) == 0) {
    for (const auto* list : {&r.branches, &r.tags}) {
      for (const auto& g : *list) {
        if (g.ref == name) return g.commit;
      }
    }
    return std::nullopt;
  }
  for (const auto& g : r.branches) {
    if (g.name == name) return g.commit;
  }
  for (const auto& g : r.tags) {
    if (g.name == name) return g.commit;
  }
  if (is_safe_revision_id(rev)) {
    std::error_code ec;
    if (fs::is_directory(repo_dir(repo_id) / "revisions" / rev, ec)) return rev;
  }
  return std::nullopt;
}

std::optional<std::string> HubStore::default_branch(const std::string& repo_id) const {
  RefList r = refs(repo_id);
  long best = -1;
  std::string best_name;
  for (const auto& g : r.branches) {
    if (g.name == "main") return g.name;
    if (major_of(g.name) > best) {
      best = major_of(g.name);
      best_name = g.name;
    }
  }
  if (best_name.empty()) return std::nullopt;
  return best_name;
}

std::shared_ptr<const RevisionIndex> HubStore::index(const std::string& repo_id,
                                                     const std::string& revision) {
  std::string key = repo_id + "@" + revision;
  const std::string sig_stamp = signature_stamp(repo_id, revision);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = indexes_.find(key);
    if (it != indexes_.end() && it->second->signature_stamp == sig_stamp) return it->second;
  }
  fs::path dir = revision_dir(repo_id, revision);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw StoreError(404, "RevisionNotFound", "revision " + revision + " not found in " + repo_id);
  }
  auto idx = std::make_shared<RevisionIndex>();
  idx->revision = revision;
  idx->last_modified = iso_time(st.st_mtime);
  idx->signature_stamp = sig_stamp;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::string rel = it->path().lexically_relative(dir).generic_string();
    struct stat fst;
    if (::lstat(it->path().c_str(), &fst) != 0) continue;
    if (!is_safe_repo_path(rel)) {
      log_warn("khub serve: not serving ", it->path().string(), ": unsafe name");
      if (S_ISDIR(fst.st_mode)) it.disable_recursion_pending();
      continue;
    }
    IndexedEntry e;
    e.path = rel;
    if (S_ISDIR(fst.st_mode)) {
      e.is_dir = true;
    } else if (S_ISREG(fst.st_mode)) {
      e.size = fst.st_size;
      e.executable = fst.st_mode & S_IXUSR;
      e.lfs = is_lfs_style(rel, e.size);
      if (e.lfs) {
        e.sha256 = file_hash_hex(it->path(), HashAlgo::kSha256);
        e.oid = git_blob_id(lfs_pointer(e.sha256, e.size));
      } else {
        auto content = read_small_file(it->path());
        if (!content) continue;
        e.oid = git_blob_id(*content);
      }
    } else {
      log_warn("khub serve: not serving ", it->path().string(), ": not a regular file");
      continue;
    }
    idx->entries.push_back(std::move(e));
  }
  std::sort(idx->entries.begin(), idx->entries.end(),
            [](const IndexedEntry& a, const IndexedEntry& b) { return a.path < b.path; });
  for (size_t i = 0; i < idx->entries.size(); ++i) idx->by_path[idx->entries[i].path] = i;
  // Folder ids bottom-up: deepest folders first.
  std::vector<size_t> dirs;
  for (size_t i = 0; i < idx->entries.size(); ++i) {
    if (idx->entries[i].is_dir) dirs.push_back(i);
  }
  std::sort(dirs.begin(), dirs.end(), [&](size_t a, size_t b) {
    return std::count(idx->entries[a].path.begin(), idx->entries[a].path.end(), '/') >
           std::count(idx->entries[b].path.begin(), idx->entries[b].path.end(), '/');
  });
  for (size_t d : dirs) {
    std::string prefix = idx->entries[d].path + "/";
    std::vector<const IndexedEntry*> children;
    for (const auto& e : idx->entries) {
      if (e.path.rfind(prefix, 0) == 0 && e.path.find('/', prefix.size()) == std::string::npos) {
        children.push_back(&e);
      }
    }
    idx->entries[d].oid = tree_id_of(children);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = indexes_[key];
  // Two requests may index at once: keep the one of the newest folders.
  if (!slot || slot->signature_stamp != sig_stamp) slot = idx;
  return slot;
}

std::string HubStore::signature_stamp(const std::string& repo_id,
                                      const std::string& revision) const {
  // inode, size and nanosecond mtime: a file or folder replaced by rename (how signatures are
  // written) has a new inode even within one clock tick.
  auto stamp = [](const fs::path& p) -> std::string {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return "-";
    return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  };
  auto names = [](const fs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  };
  fs::path build = revision_dir(repo_id, revision) / "build";
  std::string out = stamp(build);
  if (out == "-") return out;
  for (const auto& v : names(build)) {
    fs::path sigs = build / v / "signatures";
    out += " " + v + "=" + stamp(build / v) + "/" + stamp(sigs);
    for (const auto& f : names(sigs)) out += "," + f + "=" + stamp(sigs / f);
  }
  return out;
}

fs::path HubStore::staged_blob(const std::string& sha256) const {
  if (!is_hex(sha256, 64)) throw StoreError(400, "", "'" + sha256 + "' is not a sha256");
  return root_ / ".khub" / "uploads" / sha256;
}

bool HubStore::has_staged_blob(const std::string& sha256, uint64_t size) const {
  struct stat st;
  return ::stat(staged_blob(sha256).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<uint64_t>(st.st_size) == size;
}

fs::path HubStore::upload_temp_path() const {
  fs::path dir = root_ / ".khub" / "uploads";
  fs::create_directories(dir);
  return dir / (".incoming-" + random_suffix());
}

CommitOutcome HubStore::commit(const std::string& repo_id, const CommitRequest& req) {
  if (!is_valid_repo_id(repo_id)) {
    throw StoreError(400, "", "'" + repo_id + "' is not a repository id (org/name)");
  }
  if (req.files.empty() && req.deletes.empty()) {
    throw StoreError(400, "", "a commit needs at least one file to add or delete");
  }
  for (const auto& d : req.deletes) {
    if (!is_safe_repo_path(d)) throw StoreError(400, "", "unsafe path '" + d + "' to delete");
  }
  if (!req.branch.empty() && !is_safe_ref_name(req.branch)) {
    throw StoreError(400, "", "'" + req.branch + "' is not a valid branch name");
  }
  for (const auto& t : req.tags) {
    if (!is_safe_ref_name(t)) throw StoreError(400, "", "'" + t + "' is not a valid tag name");
  }
  for (const auto& b : req.extra_branches) {
    if (!is_safe_ref_name(b)) throw StoreError(400, "", "'" + b + "' is not a valid branch name");
  }
  if (!req.base_branch.empty() && !is_safe_ref_name(req.base_branch)) {
    throw StoreError(400, "", "'" + req.base_branch + "' is not a valid branch name");
  }
  for (const auto& r : req.replace) {
    if (!is_safe_repo_path(r)) throw StoreError(400, "", "unsafe folder '" + r + "' to replace");
  }
  std::set<std::string> paths;
  for (const auto& f : req.files) {
    if (!is_safe_repo_path(f.path)) throw StoreError(400, "", "unsafe file path '" + f.path + "'");
    if (!paths.insert(f.path).second) throw StoreError(400, "", "'" + f.path + "' listed twice");
    if (!has_staged_blob(f.sha256, f.size)) {
      throw StoreError(400, "",
                       "no uploaded blob " + f.sha256 + " of " + std::to_string(f.size) +
                           " bytes for '" + f.path + "' (upload it first)");
    }
  }
  for (const auto& p : paths) {
    for (size_t pos = p.find('/'); pos != std::string::npos; pos = p.find('/', pos + 1)) {
      if (paths.count(p.substr(0, pos))) {
        throw StoreError(400, "", "'" + p.substr(0, pos) + "' is both a file and a folder");
      }
    }
  }

  std::lock_guard<std::mutex> guard(commit_mu_);
  GenerationBump bump{generation_};  // declared after the lock: bumped before it is released
  CommitOutcome out;
  fs::path rdir = repo_dir(repo_id);
  fs::create_directories(rdir);
  // The same lock `khub publish --hub DIR` takes: uploads and local publishes never interleave.
  FileLock lock(rdir / ".lock");
  if (!repo_exists(repo_id)) {
    if (!req.create_repo)
      throw StoreError(404, "RepoNotFound", "repository " + repo_id + " not found");
    fs::create_directories(rdir / "refs" / "heads");
    fs::create_directories(rdir / "refs" / "tags");
    fs::create_directories(rdir / "revisions");
    if (req.is_private) write_file_atomic(rdir / "private", "");
    out.created_repo = true;
  }
  std::optional<std::string> head;
  if (!req.branch.empty()) head = resolve(repo_id, "refs/heads/" + req.branch);
  if (req.parent && !req.branch.empty()) {
    if (head.value_or("") != *req.parent) {
      throw StoreError(req.parent_mismatch_status, "",
                       "branch " + req.branch + " is at " + head.value_or("(none)") +
                           ", not at the expected parent " + *req.parent);
    }
  }
  // Hub commits go to an existing branch; a repo's first commit, and (as `khub publish` does) a
  // kernel's first commit to its version branch vN, create it.
  bool may_create_branch = !req.require_branch || refs(repo_id).branches.empty() ||
                           hub::major_of_branch(req.branch) >= 0;
  if (!head && !req.branch.empty() && !may_create_branch) {
    throw StoreError(404, "RevisionNotFound", "Invalid rev id: " + req.branch);
  }
  std::optional<std::string> base;
  if (!req.base_branch.empty()) base = resolve(repo_id, "refs/heads/" + req.base_branch);
  if (!req.deletes.empty()) {
    std::shared_ptr<const RevisionIndex> bidx;
    if (base) bidx = index(repo_id, *base);
    for (const auto& d : req.deletes) {
      if (!bidx || !bidx->find(d)) {
        throw StoreError(404, "EntryNotFound",
                         "A file with this name doesn't exist: '" + d + "' in " + req.base_branch);
      }
    }
  }
  std::vector<std::string> drop = req.replace;
  drop.insert(drop.end(), req.deletes.begin(), req.deletes.end());
  // ".tmp-*": what readers of the local hub ignore and the next `khub publish` cleans up.
  fs::path tmp = rdir / "revisions" / (".tmp-upload-" + random_suffix());
  std::error_code ec;
  std::vector<std::string> follow_main;
  try {
    fs::create_directories(tmp);
    for (const auto& f : req.files) {
      fs::path dest = tmp / f.path;
      fs::create_directories(dest.parent_path());
      fs::path src = staged_blob(f.sha256);
      // Plain files share the staged blob's inode; executables get their own copy and mode.
      if (f.executable || ::link(src.c_str(), dest.c_str()) != 0) {
        fs::copy_file(src, dest, fs::copy_options::overwrite_existing);
        fs::permissions(dest, f.executable ? fs::perms(0755) : fs::perms(0644));
      }
    }
    if (base) add_base_files(revision_dir(repo_id, *base), tmp, drop);
    // The variants this commit changes: those it writes or deletes files of, or replaces.
    std::vector<std::string> changed;
    auto note = [&](const std::string& p) {
      if (p.rfind("build/", 0) != 0) return;
      size_t slash = p.find('/', 6);
      if (slash != std::string::npos) changed.push_back(p.substr(6, slash - 6));
    };
    for (const auto& f : req.files) note(f.path);
    for (const auto& d : drop) note(d + "/");
    check_kernel_refs(repo_id, tmp, &changed, req.branch, req.tags, &follow_main);
    out.revision = revision_id_(tmp);
    check_revision_id(out.revision, "the computed revision id");
    fs::path final_dir = rdir / "revisions" / out.revision;
    if (fs::is_directory(final_dir)) {
      fs::remove_all(tmp);
    } else {
      if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
        throw StoreError(500, "",
                         "cannot place revision " + out.revision + ": " + std::strerror(errno));
      }
      out.new_revision = true;
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  for (const auto& t : req.tags) {
    auto existing = resolve(repo_id, "refs/tags/" + t);
    if (existing && *existing != out.revision) {
      throw StoreError(
          409, "",
          "tag " + t + " already points to " + *existing + "; tags never move (publish a new tag)");
    }
  }
  std::vector<std::string> branches = req.extra_branches;
  for (const auto& b : follow_main) {
    if (b != req.branch && std::find(branches.begin(), branches.end(), b) == branches.end()) {
      branches.push_back(b);
    }
  }
  if (!req.branch.empty()) branches.insert(branches.begin(), req.branch);
  for (const auto& b : branches) {
    auto before = resolve(repo_id, "refs/heads/" + b);
    if (before == out.revision) continue;
    write_ref(rdir / "refs" / "heads" / b, out.revision);
    out.refs_updated.push_back("heads/" + b);
    if (b == req.branch) {
      append_log(repo_id, {out.revision, before.value_or(""), req.title, req.message, "khub",
                           iso_time(std::time(nullptr))});
    }
  }
  for (const auto& t : req.tags) {
    if (resolve(repo_id, "refs/tags/" + t)) continue;
    write_ref(rdir / "refs" / "tags" / t, out.revision);
    out.refs_updated.push_back("tags/" + t);
  }
  return out;
}

}  // namespace khub::serve
