#include "hub/http/snapshot.h"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/logging.h"
#include "hub/http/download.h"
#include "hub/ref/repo_names.h"
#include "hub/store/file_lock.h"

namespace khub::hub::net {
namespace {

bool is_bytecode(const std::string& path) {
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".pyc") == 0) return true;
  return ("/" + path + "/").find("/__pycache__/") != std::string::npos;
}

// "build/<v>/metadata.json" -> "build/<v>"; "" for any other path.
std::string variant_of_metadata(const std::string& path) {
  const std::string suffix = "/metadata.json";
  if (path.rfind("build/", 0) != 0 || path.size() <= suffix.size() + 6) return "";
  if (path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
  std::string dir = path.substr(0, path.size() - suffix.size());
  return dir.find('/', 6) == std::string::npos ? dir : "";
}

// Reads digest.files of a variant's metadata.json: repo path -> digest.
void add_metadata_digests(const fs::path& file, const std::string& variant_dir,
                          std::map<std::string, std::pair<Digest, std::string>>& out) {
  auto text = read_small_file(file);
  if (!text) fail(ErrorKind::kIo, "cannot read ", file.string());
  std::string source = variant_dir + "/metadata.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const std::exception& e) {
    fail(ErrorKind::kFormat, source, " is not valid JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("digest")) return;  // older builds carry no digest
  const auto& d = j["digest"];
  if (!d.is_object() || !d.contains("files") || !d["files"].is_object()) {
    fail(ErrorKind::kFormat, source, ": 'digest' must be {\"algorithm\": ..., \"files\": {...}}");
  }
  HashAlgo algo = HashAlgo::kSha256;
  if (d.contains("algorithm") && d["algorithm"].is_string()) {
    algo = parse_hash_algo(d["algorithm"].get<std::string>());
  }
  for (const auto& [rel, h] : d["files"].items()) {
    check_repo_path(rel, source);
    if (!h.is_string()) fail(ErrorKind::kFormat, source, ": digest of '", rel, "' is not a string");
    out[variant_dir + "/" + rel] = {parse_digest(h.get<std::string>(), algo), source};
  }
}

}  // namespace

bool path_selected(const std::string& path, const std::vector<std::string>& prefixes) {
  if (is_bytecode(path)) return false;
  if (prefixes.empty()) return true;
  for (std::string p : prefixes) {
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty() || path == p || path.rfind(p + "/", 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> variant_names(const std::vector<TreeEntry>& tree) {
  std::set<std::string> names;
  for (const auto& e : tree) {
    if (e.path.rfind("build/", 0) != 0) continue;
    size_t end = e.path.find('/', 6);
    if (end == std::string::npos && !e.is_dir) continue;
    names.insert(e.path.substr(6, end == std::string::npos ? std::string::npos : end - 6));
  }
  return {names.begin(), names.end()};
}

SnapshotResult snapshot_download(RemoteRepo& repo, const SnapshotRequest& req) {
  const HubCache& cache = repo.cache();
  const RepoRef& ref = repo.repo();
  for (const auto& p : req.allow_prefixes) {
    std::string q = p;
    while (!q.empty() && q.back() == '/') q.pop_back();
    if (!q.empty()) check_repo_path(q, "the requested folders");
  }
  int requests_before = repo.requests();
  SnapshotResult result;
  std::string revision = req.revision.empty() ? "main" : req.revision;
  result.commit = repo.resolve_commit(revision);
  result.dir = cache.snapshot_dir(ref, result.commit);
  std::string where = ref.display() + "@" + result.commit.substr(0, 12);

  auto wanted_from = [&](const std::vector<TreeEntry>& tree) {
    std::vector<TreeEntry> wanted;
    for (const auto& e : tree) {
      if (!e.is_dir && path_selected(e.path, req.allow_prefixes)) wanted.push_back(e);
    }
    return wanted;
  };
  auto all_present = [&](const std::vector<TreeEntry>& wanted) {
    for (const auto& e : wanted) {
      if (!cache.has_snapshot_file(ref, result.commit, e.path, e.etag())) return false;
    }
    return true;
  };
  auto finish = [&](const std::vector<TreeEntry>& wanted) {
    for (const auto& e : wanted) result.files.push_back(e.path);
    result.api_requests = repo.requests() - requests_before;
    return result;
  };
  auto check_nonempty = [&](const std::vector<TreeEntry>& tree,
                            const std::vector<TreeEntry>& wanted) {
    if (!wanted.empty() || req.allow_prefixes.empty()) return;
    std::string variants;
    for (const auto& v : variant_names(tree)) variants += (variants.empty() ? "" : ", ") + v;
    std::string asked;
    for (const auto& p : req.allow_prefixes) asked += (asked.empty() ? "" : ", ") + p;
    fail(ErrorKind::kNotFound, "nothing under ", asked, " in ", where,
         variants.empty() ? " (the repository has no build/ variants)"
                          : " (variants there: " + variants + ")");
  };

  // Warm path: the listing is cached and every wanted file is linked — no lock, no network.
  if (auto tree = cache.read_tree(ref, result.commit)) {
    auto wanted = wanted_from(*tree);
    check_nonempty(*tree, wanted);
    if (all_present(wanted)) return finish(wanted);
  }

  FileLock snapshot_lock(cache.snapshot_lock_path(ref, result.commit));
  std::vector<TreeEntry> tree = repo.list_tree(result.commit, "", true);
  auto wanted = wanted_from(tree);
  check_nonempty(tree, wanted);
  // A path that is both a file and a folder cannot be laid out on disk.
  std::set<std::string> files;
  for (const auto& e : tree) {
    if (!e.is_dir) files.insert(e.path);
  }
  for (const auto& e : wanted) {
    for (size_t pos = e.path.find('/'); pos != std::string::npos; pos = e.path.find('/', pos + 1)) {
      if (files.count(e.path.substr(0, pos))) {
        fail(ErrorKind::kFormat, "the tree of ", where, " names '", e.path.substr(0, pos),
             "' both as a file and as a folder");
      }
    }
    check_revision_id(e.etag(), "the tree of " + where);
  }
  if (all_present(wanted)) return finish(wanted);
  if (repo.config().offline) {
    int missing = 0;
    std::string first;
    for (const auto& e : wanted) {
      if (!cache.has_snapshot_file(ref, result.commit, e.path, e.etag())) {
        if (!missing++) first = e.path;
      }
    }
    fail(ErrorKind::kNotFound, "HF_HUB_OFFLINE is set and ", missing, " file(s) of ", where,
         " are not in the cache (", cache.root().string(), "), e.g. ", first,
         "; pre-fetch with `khub download ", ref.id, "@", revision, "` while online");
  }

  Progress progress(repo.config().progress, "khub: " + where);
  std::atomic<int> downloaded{0};
  std::atomic<uint64_t> bytes{0};
  std::map<std::string, std::pair<Digest, std::string>> digests;
  auto fetch = [&](const TreeEntry& e) {
    if (cache.has_snapshot_file(ref, result.commit, e.path, e.etag())) {
      progress.file_done();
      return;
    }
    std::string etag = e.etag();
    double fetch_seconds = -1.0;  // >= 0: this call fetched the file
    {
      FileLock blob_lock(cache.blob_lock_path(ref, etag));
      if (!cache.has_blob(ref, etag)) {
        ExpectedContent want = expected_for(e);
        auto d = digests.find(e.path);
        if (d != digests.end()) {
          want.digest = d->second.first;
          want.digest_source = d->second.second;
        }
        auto t0 = std::chrono::steady_clock::now();
        download_verified(repo.http(), repo.file_url(result.commit, e.path),
                          cache.blob_path(ref, etag), want, ref.display() + "/" + e.path,
                          result.commit, &progress, repo.config().durable);
        ++downloaded;
        bytes += e.size;
        fetch_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
    }
    cache.link_snapshot_file(ref, result.commit, e.path, etag);
    if (fetch_seconds >= 0) {
      progress.file_done(e.path, e.size, fetch_seconds);
    } else {
      progress.file_done();
    }
  };

  uint64_t total = 0;
  for (const auto& e : wanted) total += e.size;
  progress.add_total(total, static_cast<int>(wanted.size()));
  // Phase 1: the variants' metadata.json, whose digest lists then check every other file.
  std::vector<const TreeEntry*> metadata, rest;
  for (const auto& e : wanted) {
    (req.verify_metadata_digests && !variant_of_metadata(e.path).empty() ? metadata : rest)
        .push_back(&e);
  }
  int workers = repo.config().max_workers;
  parallel_for(metadata.size(), workers, [&](size_t i) { fetch(*metadata[i]); });
  for (const auto* m : metadata) {
    add_metadata_digests(result.dir / m->path, variant_of_metadata(m->path), digests);
  }
  // Phase 2: everything else, in parallel.
  parallel_for(rest.size(), workers, [&](size_t i) { fetch(*rest[i]); });
  progress.finish();
  result.downloaded = downloaded;
  result.bytes_downloaded = bytes;
  log_info("khub: ", where, ": ", result.downloaded, " file(s) downloaded, ",
           wanted.size() - result.downloaded, " already cached");
  return finish(wanted);
}

}  // namespace khub::hub::net
