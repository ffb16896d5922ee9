#include "hub/store/hub_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/logging.h"
#include "hub/ref/repo_names.h"

namespace khub::hub::net {
namespace {

std::string temp_suffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + "." +
         std::to_string(rng() % 1000000);
}

void ensure_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec && !fs::is_directory(dir)) {
    fail(ErrorKind::kIo, "cannot create directory ", dir.string(), ": ", ec.message());
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, std::string_view content) {
  ensure_dir(path.parent_path());
  fs::path tmp = path;
  tmp += temp_suffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(ErrorKind::kIo, "cannot write ", tmp.string(), ": ", std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(ErrorKind::kIo, "cannot write ", tmp.string(), ": ", std::strerror(err));
    }
    done += n;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::kIo, "cannot rename ", tmp.string(), " to ", path.string(), ": ",
         std::strerror(err));
  }
}

std::optional<std::string> read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

HubCache::HubCache(fs::path root) : root_(std::move(root)) {}

fs::path HubCache::repo_dir(const RepoRef& repo) const { return root_ / repo.cache_folder(); }

fs::path HubCache::blob_path(const RepoRef& repo, const std::string& etag) const {
  check_revision_id(etag, "a blob name");
  return repo_dir(repo) / "blobs" / etag;
}

fs::path HubCache::snapshot_dir(const RepoRef& repo, const std::string& commit) const {
  check_revision_id(commit, "a snapshot name");
  return repo_dir(repo) / "snapshots" / commit;
}

fs::path HubCache::blob_lock_path(const RepoRef& repo, const std::string& etag) const {
  return root_ / ".locks" / repo.cache_folder() / (etag + ".lock");
}

fs::path HubCache::snapshot_lock_path(const RepoRef& repo, const std::string& commit) const {
  return root_ / ".locks" / repo.cache_folder() / ("snapshot-" + commit + ".lock");
}

std::optional<std::string> HubCache::read_ref(const RepoRef& repo, const std::string& name) const {
  if (!is_safe_ref_name(name)) return std::nullopt;
  auto text = read_small_file(repo_dir(repo) / "refs" / name);
  if (!text) return std::nullopt;
  std::string commit = *text;
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) {
    commit.pop_back();
  }
  if (!is_safe_revision_id(commit)) {
    log_warn("ignoring cache ref ", (repo_dir(repo) / "refs" / name).string(),
             ": it does not hold a revision id");
    return std::nullopt;
  }
  return commit;
}

void HubCache::write_ref(const RepoRef& repo, const std::string& name,
                         const std::string& commit) const {
  check_ref_name(name, "a ref to cache");
  check_revision_id(commit, "a ref to cache");
  // huggingface_hub writes the commit without a newline; so do we.
  write_file_atomic(repo_dir(repo) / "refs" / name, commit);
}

std::vector<std::pair<std::string, std::string>> HubCache::list_ref_files(
    const RepoRef& repo) const {
  std::vector<std::pair<std::string, std::string>> out;
  fs::path dir = repo_dir(repo) / "refs";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string name = it->path().lexically_relative(dir).generic_string();
    if (name.find(".tmp.") != std::string::npos) continue;
    if (auto c = read_ref(repo, name)) out.emplace_back(name, *c);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<RefList> HubCache::read_refs_listing(const RepoRef& repo) const {
  auto text = read_small_file(repo_dir(repo) / "khub" / "refs.json");
  if (!text) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(*text);
    RefList refs;
    refs.from_cache = true;
    for (auto [key, list] : {std::pair{"branches", &refs.branches}, {"tags", &refs.tags}}) {
      for (const auto& r : j.at(key)) {
        GitRef g{r.at("name").get<std::string>(), r.at("ref").get<std::string>(),
                 r.at("commit").get<std::string>()};
        if (is_safe_ref_name(g.name) && is_safe_revision_id(g.commit)) list->push_back(g);
      }
    }
    return refs;
  } catch (const std::exception& e) {
    log_warn("ignoring unreadable ", (repo_dir(repo) / "khub" / "refs.json").string(), ": ",
             e.what());
    return std::nullopt;
  }
}

void HubCache::write_refs_listing(const RepoRef& repo, const RefList& refs) const {
  nlohmann::json j = {{"branches", nlohmann::json::array()}, {"tags", nlohmann::json::array()}};
  for (auto [key, list] : {std::pair{"branches", &refs.branches}, {"tags", &refs.tags}}) {
    for (const auto& r : *list) {
      j[key].push_back({{"name", r.name}, {"ref", r.ref}, {"commit", r.commit}});
    }
  }
  write_file_atomic(repo_dir(repo) / "khub" / "refs.json", j.dump(1));
}

std::optional<std::vector<TreeEntry>> HubCache::read_tree(const RepoRef& repo,
                                                          const std::string& commit) const {
  if (!is_safe_revision_id(commit)) return std::nullopt;
  fs::path path = repo_dir(repo) / "trees" / (commit + ".json");
  auto text = read_small_file(path);
  if (!text) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(*text);
    if (j.value("format_version", 0) != 1) return std::nullopt;
    std::vector<TreeEntry> out;
    for (const auto& [p, info] : j.at("files").items()) {
      check_repo_path(p, path.string());
      TreeEntry e;
      e.path = p;
      e.size = info.at("size").get<uint64_t>();
      e.oid = info.at("blob_id").get<std::string>();
      if (info.contains("lfs_sha256") && info["lfs_sha256"].is_string()) {
        e.lfs_sha256 = info["lfs_sha256"].get<std::string>();
      }
      if (info.contains("xet_hash") && info["xet_hash"].is_string()) {
        e.xet_hash = info["xet_hash"].get<std::string>();
      }
      check_revision_id(e.etag(), path.string());
      out.push_back(std::move(e));
    }
    return out;
  } catch (const std::exception& e) {
    log_warn("ignoring unreadable tree cache ", path.string(), ": ", e.what());
    return std::nullopt;
  }
}

void HubCache::write_tree(const RepoRef& repo, const std::string& commit,
                          const std::vector<TreeEntry>& files) const {
  nlohmann::json jf = nlohmann::json::object();
  for (const auto& e : files) {
    if (e.is_dir) continue;
    nlohmann::json info = {{"size", e.size}, {"blob_id", e.oid}};
    if (e.lfs_sha256) {
      info["lfs_sha256"] = *e.lfs_sha256;
      info["lfs_size"] = e.size;
    }
    if (e.xet_hash) info["xet_hash"] = *e.xet_hash;
    jf[e.path] = info;
  }
  nlohmann::json j = {{"format_version", 1},
                      {"repo_id", repo.id},
                      {"repo_type", repo_type_name(repo.type)},
                      {"commit_hash", commit},
                      {"files", jf}};
  check_revision_id(commit, "a tree listing to cache");
  write_file_atomic(repo_dir(repo) / "trees" / (commit + ".json"), j.dump(1));
}

bool HubCache::has_blob(const RepoRef& repo, const std::string& etag) const {
  struct stat st;
  return ::stat(blob_path(repo, etag).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool HubCache::has_snapshot_file(const RepoRef& repo, const std::string& commit,
                                 const std::string& path, const std::string& etag) const {
  fs::path link = snapshot_dir(repo, commit) / path;
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) {
    // A regular file (e.g. a cache on a filesystem without symlinks) also counts.
    struct stat st;
    return ::lstat(link.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }
  if (target.filename().string() != etag) return false;
  struct stat st;
  return ::stat(link.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void HubCache::link_snapshot_file(const RepoRef& repo, const std::string& commit,
                                  const std::string& path, const std::string& etag) const {
  check_repo_path(path, "a snapshot link");
  fs::path link = snapshot_dir(repo, commit) / path;
  ensure_dir(link.parent_path());
  // Relative link, like huggingface_hub's: "../../blobs/<etag>" plus one ".." per directory.
  std::string rel = "../../";
  for (char c : path) {
    if (c == '/') rel += "../";
  }
  rel += "blobs/" + etag;
  fs::path tmp = link;
  tmp += temp_suffix();
  if (::symlink(rel.c_str(), tmp.c_str()) != 0) {
    fail(ErrorKind::kIo, "cannot create link ", tmp.string(), ": ", std::strerror(errno));
  }
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(ErrorKind::kIo, "cannot place link ", link.string(), ": ", std::strerror(err));
  }
}

std::vector<std::string> HubCache::list_snapshot_files(const RepoRef& repo,
                                                       const std::string& commit) const {
  std::vector<std::string> out;
  fs::path dir = snapshot_dir(repo, commit);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code sec;
    if (!fs::is_regular_file(it->path(), sec)) continue;  // follows links; dangling ones drop
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (rel.find(".tmp.") != std::string::npos) continue;
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace khub::hub::net
