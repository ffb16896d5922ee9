#include "hub/store/publish.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/ref/hub_location.h"
#include "hub/ref/semver.h"
#include "hub/ref/version_resolve.h"
#include "hub/source/local_hub.h"
#include "hub/source/local_kernels.h"
#include "loader/digest.h"
#include "loader/metadata.h"
#include "loader/safe_path.h"
#include "loader/signature.h"
#include "loader/variant.h"

namespace khub::hub {
namespace fs = std::filesystem;

namespace {

// An exclusive advisory lock on a file, held for the object's lifetime.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(ErrorKind::kIo, path.string(), ": cannot open lock file");
    if (::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fail(ErrorKind::kIo, path.string(), ": cannot take the lock");
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes a temporary folder unless released (the error path of a publish).
class TempDir {
 public:
  explicit TempDir(fs::path p) : path_(std::move(p)) {}
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
      fs::remove_all(path_, ec);
    }
  }
  const fs::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

void write_file_atomic(const fs::path& path, const std::string& content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) fail(ErrorKind::kIo, path.parent_path().string(), ": ", ec.message());
  fs::path tmp = path.parent_path() / (".tmp-" + path.filename().string() + "-" + unique_suffix());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      fs::remove(tmp, ec);
      fail(ErrorKind::kIo, tmp.string(), ": write failed");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail(ErrorKind::kIo, "rename to ", path.string(), " failed: ", ec.message());
  }
}

// Regular files of a folder, refusing symlinks and special files (publish copies bytes; a link
// could smuggle in a file from elsewhere on the machine).
std::vector<std::string> plain_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) fail(ErrorKind::kIo, dir.string(), ": ", ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(ErrorKind::kIo, dir.string(), ": ", ec.message());
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (it->is_symlink()) {
      fail(ErrorKind::kInvalidArgument, dir.string(), ": \"", rel,
           "\" is a symlink; publish only takes plain files");
    }
    if (it->is_directory()) continue;
    if (!it->is_regular_file()) {
      fail(ErrorKind::kInvalidArgument, dir.string(), ": \"", rel, "\" is not a regular file");
    }
    std::string why = loader::check_relative_path(rel);
    if (!why.empty())
      fail(ErrorKind::kInvalidArgument, dir.string(), ": file \"", rel, "\": ", why);
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void copy_or_link(const fs::path& from, const fs::path& to, bool link) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (link) {
    fs::create_hard_link(from, to, ec);
    if (!ec) return;
  }
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) fail(ErrorKind::kIo, "copy ", from.string(), " -> ", to.string(), ": ", ec.message());
}

// The khub variant folders of a revision tree (build/<variant>/ holding metadata.json).
std::vector<std::string> tree_variants(const fs::path& revision_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(revision_dir / "build", ec)) {
    auto parsed = loader::parse_variant_name(e.path().filename().string());
    if (e.is_directory() && parsed && parsed->family == loader::VariantFamily::kKhub &&
        fs::exists(e.path() / "metadata.json")) {
      out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int major_of_branch(const std::string& name) {
  if (name.size() < 2 || name[0] != 'v') return -1;
  int comps = 0;
  auto v = parse_semver(name, true, &comps);
  if (!v || comps != 1 || name.find_first_of("-+") != std::string::npos) return -1;
  return v->major;
}

loader::VariantMetadata check_publishable_variant(const fs::path& dir,
                                                  const std::string& variant_name) {
  std::string why;
  if (!loader::parse_variant_name(variant_name, &why)) {
    fail(ErrorKind::kInvalidArgument, dir.string(), ": '", variant_name,
         "' is not a variant name (", why, ")");
  }
  loader::VariantMetadata md = loader::read_metadata(dir);
  auto problems = loader::check_variant_digest(dir, md);
  if (!problems.empty()) {
    fail(ErrorKind::kVerification, dir.string(),
         ": refusing to publish, the digest does not verify: ", loader::describe(problems.front()));
  }
  return md;
}

KernelTree check_kernel_tree(const fs::path& tree, const std::vector<std::string>& changed) {
  KernelTree out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tree / "build", ec)) {
    if (e.is_symlink(ec) || !e.is_directory(ec)) {
      fail(ErrorKind::kInvalidArgument, "build/", e.path().filename().string(),
           ": only variant folders may lie directly under build/");
    }
  }
  if (ec) fail(ErrorKind::kIo, (tree / "build").string(), ": ", ec.message());
  std::vector<std::string> names = changed;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const std::string& vname : names) {
    fs::path dir = tree / "build" / vname;
    if (!fs::is_directory(dir, ec)) continue;  // deleted by the change
    loader::VariantMetadata md = check_publishable_variant(dir, vname);
    if (out.version >= 0 && (md.name != out.name || md.version != out.version)) {
      fail(ErrorKind::kInvalidArgument, "build/", vname, ": variants disagree on name/version (",
           out.name, " v", out.version, " vs ", md.name, " v", md.version, ")");
    }
    out.name = md.name;
    out.version = md.version;
    out.variants.push_back(vname);
  }
  return out;
}

std::map<std::string, fs::path> kernel_project_docs(const fs::path& project) {
  std::error_code ec;
  if (!fs::is_directory(project, ec)) {
    fail(ErrorKind::kNotFound, project.string(), ": no such kernel project folder");
  }
  std::map<std::string, fs::path> out;
  auto take = [&](const fs::path& file, const std::string& rel) {
    if (fs::is_symlink(file, ec)) {
      fail(ErrorKind::kInvalidArgument, file.string(),
           ": is a symlink; publish copies plain files only");
    }
    if (fs::is_regular_file(file, ec)) out[rel] = file;
  };
  take(project / "README.md", "README.md");
  fs::path results = project / "bench" / "results";
  if (fs::is_directory(results, ec)) {
    for (const auto& e : fs::directory_iterator(results, ec)) {
      std::string name = e.path().filename().string();
      if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
      if (!loader::check_path_component(name).empty()) {
        fail(ErrorKind::kInvalidArgument, e.path().string(), ": ",
             loader::check_path_component(name));
      }
      take(e.path(), "bench/results/" + name);
      if (!out.count("bench/results/" + name)) continue;
      std::ifstream in(e.path(), std::ios::binary);
      nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        fail(ErrorKind::kInvalidArgument, e.path().string(),
             ": a benchmark results file must be a JSON object (bench/kernels_cpu's format, "
             "docs/hub-http.md)");
      }
    }
  }
  return out;
}

PublishResult publish_kernel(const fs::path& built, const fs::path& hub,
                             const PublishOptions& options) {
  require_hub_directory(hub, "hub");
  // 1. The variants to publish: parseable names, valid metadata, digests that verify.
  std::map<std::string, fs::path> variants = local_variant_folders(built);
  if (variants.empty()) {
    fail(ErrorKind::kInvalidArgument, built.string(),
         ": no variant folders to publish (run khub build first)");
  }
  std::string name, repo_default;
  int version = -1;
  for (const auto& [vname, dir] : variants) {
    loader::VariantMetadata md = check_publishable_variant(dir, vname);
    if (version >= 0 && (md.name != name || md.version != version)) {
      fail(ErrorKind::kInvalidArgument, built.string(), ": variants disagree on name/version (",
           name, " v", version, " vs ", md.name, " v", md.version, ")");
    }
    name = md.name;
    version = md.version;
    if (!md.repo_id.empty()) repo_default = md.repo_id;
  }
  PublishResult result;
  result.repo_id = !options.repo_id.empty() ? options.repo_id
                   : !repo_default.empty()  ? repo_default
                                            : "khub-community/" + name;
  split_repo_id(result.repo_id);
  std::string branch = options.branch.empty() ? "v" + std::to_string(version) : options.branch;
  if (std::string why = check_ref_name(branch); !why.empty()) {
    fail(ErrorKind::kInvalidArgument, "branch '", branch, "': ", why);
  }
  int branch_major = major_of_branch(branch);
  if (branch_major >= 0 && branch_major != version) {
    fail(ErrorKind::kInvalidArgument, "branch ", branch, " is for major version ", branch_major,
         " but the kernel's metadata says version ", version);
  }
  if (!options.tag.empty()) {
    if (std::string why = check_ref_name(options.tag); !why.empty()) {
      fail(ErrorKind::kInvalidArgument, "tag '", options.tag, "': ", why);
    }
    if (auto v = parse_semver(options.tag); v && v->major != version) {
      fail(ErrorKind::kInvalidArgument, "tag ", options.tag, " has major version ", v->major,
           " but the kernel's metadata says version ", version);
    }
  }

  // 2. Under the repo lock: base tree, new tree in a temporary folder, id, rename, refs.
  LocalHubSource src(hub);
  fs::path repo_dir = src.repo_dir(result.repo_id);
  fs::path revisions = repo_dir / "revisions";
  std::error_code ec;
  fs::create_directories(revisions, ec);
  if (ec) fail(ErrorKind::kIo, revisions.string(), ": ", ec.message());
  fs::create_directories(repo_dir / "refs" / "heads", ec);
  FileLock lock(repo_dir / ".lock");
  for (const auto& e : fs::directory_iterator(revisions, ec)) {
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) {
      std::error_code ec2;
      fs::remove_all(e.path(), ec2);  // left by an interrupted publish
    }
  }
  RefList refs = src.list_refs(result.repo_id);

  // The tree: the branch's current files minus the replaced variants, plus the new variants.
  std::map<std::string, std::pair<fs::path, bool>> tree;  // path -> (source file, may hard-link)
  if (auto b = refs.branches.find(branch); b != refs.branches.end()) {
    fs::path base = src.revision_dir(result.repo_id, b->second);
    for (const std::string& rel : plain_files(base)) {
      bool replaced = false;
      for (const auto& [vname, dir] : variants) {
        replaced |= rel.rfind("build/" + vname + "/", 0) == 0;
      }
      if (replaced) continue;
      if (is_revision_signature_path(rel)) {
        ++result.dropped_signatures;  // it names the base revision, not the new one
        continue;
      }
      tree[rel] = {base / rel, true};
    }
  }
  for (const auto& [vname, dir] : variants) {
    for (const std::string& rel : plain_files(dir)) {
      if (loader::is_signature_path(rel)) {
        ++result.dropped_signatures;
        continue;
      }
      tree["build/" + vname + "/" + rel] = {dir / rel, false};
    }
    result.variants.push_back(vname);
  }
  // The project's README and benchmark results, replacing the branch's.
  fs::path docs_dir = options.docs_from;
  if (docs_dir.empty() && fs::is_regular_file(built / "build.toml", ec)) docs_dir = built;
  if (!docs_dir.empty()) {
    std::map<std::string, fs::path> docs = kernel_project_docs(docs_dir);
    bool has_results = false;
    for (const auto& [rel, file] : docs) has_results |= rel.rfind("bench/results/", 0) == 0;
    if (has_results) {
      for (auto it = tree.begin(); it != tree.end();) {
        it = it->first.rfind("bench/results/", 0) == 0 ? tree.erase(it) : std::next(it);
      }
    }
    for (const auto& [rel, file] : docs) {
      tree[rel] = {file, false};
      result.docs.push_back(rel);
    }
  }
  std::vector<loader::SigningKey> keys;
  for (const fs::path& k : options.sign_keys) keys.push_back(loader::SigningKey::read(k));
  std::map<std::string, std::string> hashes;
  for (const auto& [rel, from] : tree)
    hashes[rel] = loader::to_hex(loader::sha_file(from.first, "sha256"));
  result.revision = revision_id({hashes.begin(), hashes.end()});

  if (!options.tag.empty()) {
    if (auto t = refs.tags.find(options.tag); t != refs.tags.end()) {
      if (t->second != result.revision) {
        fail(ErrorKind::kInvalidArgument, result.repo_id, ": tag ", options.tag,
             " already points to revision ", t->second,
             "; tags are immutable (publish under a new tag)");
      }
      result.unchanged = true;
      return result;  // nothing written, nothing moves
    }
  }

  fs::path final_dir = revisions / result.revision;
  if (fs::is_directory(final_dir, ec)) {
    result.created = false;  // the same tree was published before: nothing to write but signatures
    for (const loader::SigningKey& key : keys) {
      for (const std::string& v : tree_variants(final_dir)) {
        fs::path vdir = final_dir / "build" / v;
        loader::write_signature(
            vdir, key, loader::statement_for_folder(vdir, result.repo_id, result.revision, v));
        result.signatures.push_back("build/" + v + "/signatures/" + key.public_key().id + ".sig");
      }
    }
  } else {
    TempDir tmp(revisions / (".tmp-" + unique_suffix()));
    fs::create_directories(tmp.path(), ec);
    if (ec) fail(ErrorKind::kIo, tmp.path().string(), ": ", ec.message());
    for (const auto& [rel, from] : tree) copy_or_link(from.first, tmp.path() / rel, from.second);
    // What gets published are the copies: check they are what was hashed and that every
    // published variant verifies against its own metadata.json.
    for (const auto& [rel, hex] : hashes) {
      if (loader::to_hex(loader::sha_file(tmp.path() / rel, "sha256")) != hex) {
        fail(ErrorKind::kVerification, tree[rel].first.string(), ": changed while publishing");
      }
      fs::permissions(tmp.path() / rel,
                      fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read, ec);
    }
    for (const std::string& vname : result.variants) {
      fs::path copied = tmp.path() / "build" / vname;
      auto problems = loader::check_variant_digest(copied, loader::read_metadata(copied));
      if (!problems.empty()) {
        fail(ErrorKind::kVerification, copied.string(), ": ", loader::describe(problems.front()));
      }
    }
    // Signatures go in before the rename: a revision never appears without them.
    for (const loader::SigningKey& key : keys) {
      for (const std::string& v : tree_variants(tmp.path())) {
        fs::path vdir = tmp.path() / "build" / v;
        loader::write_signature(
            vdir, key, loader::statement_for_folder(vdir, result.repo_id, result.revision, v));
        result.signatures.push_back("build/" + v + "/signatures/" + key.public_key().id + ".sig");
      }
    }
    fs::rename(tmp.path(), final_dir, ec);
    if (ec && !fs::is_directory(final_dir)) {
      fail(ErrorKind::kIo, "rename into ", final_dir.string(), " failed: ", ec.message());
    }
    if (!ec) tmp.release();
    result.created = true;
  }

  auto set_ref = [&](const std::string& kind, const std::string& ref_name) {
    const auto& current = kind == "heads" ? refs.branches : refs.tags;
    auto it = current.find(ref_name);
    if (it != current.end() && it->second == result.revision) return;
    write_file_atomic(repo_dir / "refs" / kind / ref_name, result.revision + "\n");
    result.refs_updated.push_back(kind + "/" + ref_name);
  };
  set_ref("heads", branch);
  if (!options.tag.empty()) set_ref("tags", options.tag);
  bool update_main = branch == "main" || !refs.branches.count("main");
  if (!update_main && branch_major >= 0) {
    auto majors = major_branches(refs);
    update_main = majors.empty() || branch_major >= majors.front().first;
  }
  if (update_main && branch != "main") set_ref("heads", "main");
  return result;
}

std::vector<std::string> sign_revision(const fs::path& hub, const std::string& repo_id,
                                       const std::string& revision, const fs::path& key_file,
                                       const std::vector<std::string>& variants) {
  require_hub_directory(hub, "hub");
  loader::SigningKey key = loader::SigningKey::read(key_file);
  LocalHubSource src(hub);
  if (!src.has_revision(repo_id, revision)) {
    fail(ErrorKind::kNotFound, repo_id, "@", revision, ": no such revision in the hub ",
         hub.string());
  }
  fs::path repo_dir = src.repo_dir(repo_id);
  FileLock lock(repo_dir / ".lock");
  fs::path rev_dir = src.revision_dir(repo_id, revision);
  std::vector<std::string> all = tree_variants(rev_dir);
  std::vector<std::string> chosen = variants.empty() ? all : variants;
  std::vector<std::string> written;
  for (const std::string& v : chosen) {
    if (std::find(all.begin(), all.end(), v) == all.end()) {
      std::string list;
      for (const auto& a : all) list += (list.empty() ? "" : ", ") + a;
      fail(ErrorKind::kNotFound, repo_id, "@", revision, " has no variant ", v,
           " (variants: ", list, ")");
    }
    fs::path vdir = rev_dir / "build" / v;
    // Refuse to vouch for files that no longer match their digest.
    auto problems = loader::check_variant_digest(vdir, loader::read_metadata(vdir), rev_dir);
    if (!problems.empty()) {
      fail(ErrorKind::kVerification, vdir.string(), ": refusing to sign, ",
           loader::describe(problems.front()));
    }
    loader::write_signature(vdir, key, loader::statement_for_folder(vdir, repo_id, revision, v));
    written.push_back("build/" + v + "/signatures/" + key.public_key().id + ".sig");
  }
  return written;
}

}  // namespace khub::hub
