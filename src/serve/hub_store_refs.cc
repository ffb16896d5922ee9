// HubStore (hub_store.h): the Hub's repo and ref management and khub serve's commit log — repo,
// branch and tag creation, the kernel rules every ref move follows, and the history that
// `GET /api/.../commits/{rev}` lists (docs/design.md §6.2).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/ref/repo_names.h"
#include "hub/ref/semver.h"
#include "hub/store/file_lock.h"
#include "hub/store/hub_cache.h"
#include "hub/store/publish.h"
#include "loader/metadata.h"
#include "serve/hub_store.h"

namespace khub::serve {

using namespace khub::hub::net;
using namespace detail;

// A tree with a build/ folder is a kernel revision. The variants a commit changes pass what
// `khub publish` checks (hub::check_kernel_tree: variant names, metadata and digests, one name and
// major version); the others were checked when they came. Refs follow publish's rules too: a vN
// branch holds major version N, a semver tag's major is the kernel's, and main follows the
// highest version branch. When only refs move, the version is what the variants' metadata says.
void HubStore::check_kernel_refs(const std::string& repo_id, const fs::path& tree,
                                 const std::vector<std::string>* changed, const std::string& branch,
                                 const std::vector<std::string>& tags,
                                 std::vector<std::string>* follow_main) {
  std::error_code ec;
  if (!fs::exists(tree / "build", ec)) return;
  hub::KernelTree k;
  try {
    if (changed) {
      k = hub::check_kernel_tree(tree, *changed);
    } else {
      for (const auto& e : fs::directory_iterator(tree / "build", ec)) {
        if (!fs::exists(e.path() / "metadata.json", ec)) continue;
        auto md = loader::read_metadata(e.path());
        if (k.version >= 0 && md.version != k.version) {
          fail(ErrorKind::kInvalidArgument, "its variants disagree on the major version (",
               k.version, " vs ", md.version, ")");
        }
        k.version = md.version;
      }
    }
  } catch (const Error& e) {
    std::string what = e.what();
    // Name the path inside the repo, not the server's temporary folder.
    for (size_t p; (p = what.find(tree.string() + "/")) != std::string::npos;) {
      what.erase(p, tree.string().size() + 1);
    }
    throw StoreError(400, "", "refusing the commit to kernel repo " + repo_id + ": " + what);
  }
  if (k.version < 0) return;  // no variant left to say which version this is
  int major = hub::major_of_branch(branch);
  if (major >= 0 && major != k.version) {
    throw StoreError(400, "",
                     "branch " + branch + " is for major version " + std::to_string(major) +
                         " but the kernel's metadata says version " + std::to_string(k.version));
  }
  for (const auto& t : tags) {
    if (auto v = hub::parse_semver(t); v && v->major != k.version) {
      throw StoreError(400, "",
                       "tag " + t + " has major version " + std::to_string(v->major) +
                           " but the kernel's metadata says version " + std::to_string(k.version));
    }
  }
  if (major < 0 || !follow_main) return;
  RefList r = refs(repo_id);
  bool has_main = false;
  long highest = -1;
  for (const auto& g : r.branches) {
    has_main |= g.name == "main";
    highest = std::max<long>(highest, hub::major_of_branch(g.name));
  }
  if (!has_main || major >= highest) follow_main->push_back("main");
}

void HubStore::append_log(const std::string& repo_id, const CommitLogEntry& e) {
  fs::path dir = repo_dir(repo_id) / "logs";
  fs::create_directories(dir);
  nlohmann::json j = {{"id", e.id},           {"parent", e.parent}, {"title", e.title},
                      {"message", e.message}, {"author", e.author}, {"date", e.date}};
  std::string line = j.dump() + "\n";
  // One write(2) of a whole line with O_APPEND, under the repo lock: lines never interleave.
  int fd = ::open((dir / "commits.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw StoreError(500, "", "cannot open the commit log of " + repo_id);
  ssize_t n = ::write(fd, line.data(), line.size());
  ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    throw StoreError(500, "", "cannot write the commit log of " + repo_id);
  }
}

std::vector<CommitLogEntry> HubStore::history(const std::string& repo_id,
                                              const std::string& revision, size_t limit) {
  std::vector<CommitLogEntry> log;
  std::ifstream in(repo_dir(repo_id) / "logs" / "commits.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;  // a torn last line of a crash
    CommitLogEntry e{j.value("id", ""),      j.value("parent", ""), j.value("title", ""),
                     j.value("message", ""), j.value("author", ""), j.value("date", "")};
    if (is_safe_revision_id(e.id)) log.push_back(std::move(e));
  }
  auto unknown = [&](const std::string& id) {
    struct stat st {};
    ::stat(revision_dir(repo_id, id).c_str(), &st);
    return CommitLogEntry{id, "",     "revision " + id.substr(0, 12),
                          "", "khub", iso_time(st.st_mtime)};
  };
  std::vector<CommitLogEntry> out;
  std::string want = revision;
  size_t end = log.size();
  while (!want.empty() && out.size() < limit) {
    size_t pos = end;
    while (pos > 0 && log[pos - 1].id != want) --pos;
    if (pos == 0) {
      out.push_back(unknown(want));
      break;
    }
    out.push_back(log[pos - 1]);
    want = log[pos - 1].parent;
    end = pos - 1;
  }
  return out;
}

bool HubStore::create_repo(const std::string& repo_id, bool is_private) {
  check_repo_id(repo_id);
  std::lock_guard<std::mutex> guard(commit_mu_);
  GenerationBump bump{generation_};
  fs::path rdir = repo_dir(repo_id);
  fs::create_directories(rdir);
  FileLock lock(rdir / ".lock");
  if (repo_exists(repo_id)) return false;
  fs::create_directories(rdir / "refs" / "tags");
  fs::create_directories(rdir / "refs" / "heads");
  fs::create_directories(rdir / "revisions");
  if (is_private) write_file_atomic(rdir / "private", "");
  return true;
}

void HubStore::create_branch(const std::string& repo_id, const std::string& branch,
                             const std::string& revision, bool overwrite) {
  if (!is_safe_ref_name(branch) || branch == "HEAD") {
    throw StoreError(400, "", "'" + branch + "' is not a valid branch name");
  }
  std::lock_guard<std::mutex> guard(commit_mu_);
  GenerationBump bump{generation_};
  fs::path rdir = repo_dir(repo_id);
  FileLock lock(rdir / ".lock");
  if (resolve(repo_id, "refs/heads/" + branch) && !overwrite) {
    throw StoreError(409, "", "Reference already exists: branch " + branch);
  }
  if (resolve(repo_id, "refs/tags/" + branch)) {
    throw StoreError(409, "", "a tag is named " + branch + "; a branch may not share its name");
  }
  std::string rev = revision;
  if (rev.empty()) {
    // An empty branch points at the revision of the empty tree.
    fs::path tmp = rdir / "revisions" / (".tmp-empty-" + random_suffix());
    fs::create_directories(tmp);
    rev = revision_id_(tmp);
    std::error_code ec;
    if (fs::is_directory(rdir / "revisions" / rev, ec) ||
        ::rename(tmp.c_str(), (rdir / "revisions" / rev).c_str()) != 0) {
      fs::remove_all(tmp, ec);
    }
  }
  check_kernel_refs(repo_id, revision_dir(repo_id, rev), nullptr, branch, {}, nullptr);
  write_ref(rdir / "refs" / "heads" / branch, rev);
}

void HubStore::create_tag(const std::string& repo_id, const std::string& tag,
                          const std::string& revision) {
  if (!is_safe_ref_name(tag) || tag == "HEAD") {
    throw StoreError(400, "", "'" + tag + "' is not a valid tag name");
  }
  std::lock_guard<std::mutex> guard(commit_mu_);
  GenerationBump bump{generation_};
  fs::path rdir = repo_dir(repo_id);
  FileLock lock(rdir / ".lock");
  if (auto existing = resolve(repo_id, "refs/tags/" + tag)) {
    throw StoreError(409, "",
                     "Tag " + tag + " already exists (at " + *existing + "); tags never move");
  }
  check_kernel_refs(repo_id, revision_dir(repo_id, revision), nullptr, "", {tag}, nullptr);
  write_ref(rdir / "refs" / "tags" / tag, revision);
}

}  // namespace khub::serve
