#include "hub/http/hf_api.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/logging.h"
#include "hub/http/download.h"
#include "hub/ref/repo_names.h"

namespace khub::hub::net {
namespace {

using json = nlohmann::json;

json parse_json(std::string_view body, const std::string& source) {
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    fail(ErrorKind::kFormat, "malformed JSON from ", source, ": ", e.what());
  }
}

std::string str_field(const json& j, const char* key, const std::string& source) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) {
    fail(ErrorKind::kFormat, "malformed answer from ", source, ": expected a string field '", key,
         "'");
  }
  return j[key].get<std::string>();
}

uint64_t size_field(const json& j, const char* key, const std::string& source) {
  if (!j.contains(key) || !j[key].is_number_unsigned()) {
    if (j.contains(key) && j[key].is_number_integer() && j[key].get<int64_t>() >= 0) {
      return j[key].get<uint64_t>();
    }
    fail(ErrorKind::kFormat, "malformed answer from ", source, ": expected a size '", key,
         "' >= 0");
  }
  uint64_t v = j[key].get<uint64_t>();
  if (v > (uint64_t(1) << 50)) {
    fail(ErrorKind::kFormat, "malformed answer from ", source, ": size ", v, " is implausible");
  }
  return v;
}

}  // namespace

std::string normalize_etag(std::string_view etag) {
  if (etag.rfind("W/", 0) == 0) etag.remove_prefix(2);
  while (!etag.empty() && etag.front() == '"') etag.remove_prefix(1);
  while (!etag.empty() && etag.back() == '"') etag.remove_suffix(1);
  return std::string(etag);
}

RefList parse_refs_json(std::string_view body, const std::string& source) {
  json j = parse_json(body, source);
  if (!j.is_object()) fail(ErrorKind::kFormat, "malformed refs from ", source, ": not an object");
  RefList refs;
  for (auto [key, list] : {std::pair{"branches", &refs.branches}, {"tags", &refs.tags}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_array()) {
      fail(ErrorKind::kFormat, "malformed refs from ", source, ": '", key, "' is not a list");
    }
    for (const auto& r : j[key]) {
      GitRef g;
      g.name = str_field(r, "name", source);
      g.ref = r.contains("ref") && r["ref"].is_string() ? r["ref"].get<std::string>() : "";
      g.commit = str_field(r, "targetCommit", source);
      check_ref_name(g.name, "the refs of " + source);
      check_revision_id(g.commit, "the refs of " + source);
      list->push_back(std::move(g));
    }
  }
  return refs;
}

std::vector<TreeEntry> parse_tree_json(std::string_view body, const std::string& source) {
  json j = parse_json(body, source);
  if (!j.is_array()) fail(ErrorKind::kFormat, "malformed tree listing from ", source);
  std::vector<TreeEntry> out;
  out.reserve(j.size());
  for (const auto& item : j) {
    TreeEntry e;
    std::string type = str_field(item, "type", source);
    e.path = str_field(item, "path", source);
    check_repo_path(e.path, "the tree listing " + source);
    if (type == "directory") {
      e.is_dir = true;
      if (item.contains("oid") && item["oid"].is_string()) e.oid = item["oid"].get<std::string>();
    } else if (type == "file") {
      e.size = size_field(item, "size", source);
      e.oid = str_field(item, "oid", source);
      if (!is_hex(e.oid, 40) && !is_hex(e.oid, 64)) {
        fail(ErrorKind::kFormat, "malformed tree listing from ", source, ": '", e.path,
             "' has object id '", e.oid.substr(0, 80), "' (expected 40 or 64 hex digits)");
      }
      if (item.contains("lfs") && item["lfs"].is_object()) {
        std::string sha = str_field(item["lfs"], "oid", source);
        if (!is_hex(sha, 64)) {
          fail(ErrorKind::kFormat, "malformed tree listing from ", source, ": '", e.path,
               "' has LFS oid '", sha.substr(0, 80), "' (expected a sha256)");
        }
        e.lfs_sha256 = sha;
        if (item["lfs"].contains("size")) e.size = size_field(item["lfs"], "size", source);
      }
      if (item.contains("xetHash") && item["xetHash"].is_string()) {
        e.xet_hash = item["xetHash"].get<std::string>();
      }
    } else {
      continue;  // submodules and future types are not files we can fetch
    }
    out.push_back(std::move(e));
  }
  return out;
}

RepoInfo parse_repo_info_json(std::string_view body, const std::string& source) {
  json j = parse_json(body, source);
  RepoInfo info;
  info.id = str_field(j, "id", source);
  info.sha = str_field(j, "sha", source);
  check_revision_id(info.sha, "the repo info from " + source);
  info.is_private = j.contains("private") && j["private"].is_boolean() && j["private"].get<bool>();
  if (j.contains("lastModified") && j["lastModified"].is_string()) {
    info.last_modified = j["lastModified"].get<std::string>();
  }
  if (j.contains("siblings") && j["siblings"].is_array()) {
    for (const auto& s : j["siblings"]) info.files.push_back(str_field(s, "rfilename", source));
  }
  return info;
}

RemoteRepo::RemoteRepo(HubConfig config, RepoRef repo)
    : config_(std::move(config)),
      repo_(std::move(repo)),
      cache_(config_.cache_root),
      http_(config_.http_settings()) {
  check_repo_id(repo_.id);
}

std::string RemoteRepo::api_url(const std::string& suffix) const {
  return config_.endpoint + "/api/" + std::string(repo_type_api_segment(repo_.type)) + "/" +
         repo_.id + suffix;
}

std::string RemoteRepo::file_url(const std::string& revision, const std::string& path) const {
  return config_.endpoint + "/" + std::string(repo_type_url_prefix(repo_.type)) + repo_.id +
         "/resolve/" + url_encode_segment(revision) + "/" + url_encode_path(path);
}

void RemoteRepo::require_online(const char* what) const {
  if (config_.offline) {
    fail(ErrorKind::kNotFound, "HF_HUB_OFFLINE is set and the cache (", cache_.root().string(),
         ") cannot answer ", what, " for ", repo_.display(),
         "; pre-fetch it while online (khub download ", repo_.id,
         "[@REV]) or unset "
         "HF_HUB_OFFLINE");
  }
}

HttpResponse RemoteRepo::get_json(const std::string& url, const char* what) {
  HttpRequest req;
  req.url = url;
  req.headers.emplace_back("Accept", "application/json");
  req.timeout_ms = config_.request_timeout_ms;
  ++requests_;
  try {
    return http_.request(req);
  } catch (const HttpError& e) {
    if (e.error_code() == "RepoNotFound" || (e.status() == 401 && e.error_code().empty())) {
      fail(ErrorKind::kNotFound, "repository ", repo_.display(), " not found at ", config_.endpoint,
           (config_.token ? "" : " (if it is private, set HF_TOKEN)"), " [", e.what(), "]");
    }
    if (e.error_code() == "RevisionNotFound") {
      fail(ErrorKind::kNotFound, "revision not found in ", repo_.display(), " while listing ", what,
           " [", e.what(), "]");
    }
    throw;
  }
}

RefList RemoteRepo::list_refs() {
  if (config_.offline) {
    if (auto cached = cache_.read_refs_listing(repo_)) return *cached;
    RefList refs;
    refs.from_cache = true;
    for (const auto& [name, commit] : cache_.list_ref_files(repo_)) {
      if (is_commit_hash(name)) continue;
      // huggingface_hub records refs/<name> without saying branch or tag: report them as
      // branches, which is what version lookups (refs/v<N>) read.
      refs.branches.push_back({name, "refs/heads/" + name, commit});
    }
    if (refs.branches.empty()) require_online("the list of versions (branches and tags)");
    return refs;
  }
  std::string url = api_url("/refs");
  RefList refs = parse_refs_json(get_json(url, "refs").body, url);
  cache_.write_refs_listing(repo_, refs);
  return refs;
}

RepoInfo RemoteRepo::repo_info(const std::string& revision) {
  if (config_.offline) {
    RepoInfo info;
    info.id = repo_.id;
    info.from_cache = true;
    info.sha = resolve_commit(revision.empty() ? "main" : revision);
    if (auto tree = cache_.read_tree(repo_, info.sha)) {
      for (const auto& e : *tree) info.files.push_back(e.path);
    } else {
      info.files = cache_.list_snapshot_files(repo_, info.sha);
    }
    return info;
  }
  std::string url = api_url(revision.empty() ? "" : "/revision/" + url_encode_segment(revision));
  RepoInfo info = parse_repo_info_json(get_json(url, "repo info").body, url);
  if (!revision.empty() && revision != info.sha && is_safe_ref_name(revision)) {
    cache_.write_ref(repo_, revision, info.sha);
  }
  return info;
}

std::string RemoteRepo::resolve_commit(const std::string& revision) {
  if (is_commit_hash(revision)) return revision;
  if (config_.offline) {
    if (auto c = cache_.read_ref(repo_, revision)) return *c;
    if (auto refs = cache_.read_refs_listing(repo_)) {
      if (auto c = refs->find(revision)) return *c;
    }
    if (is_safe_revision_id(revision) &&
        std::filesystem::is_directory(cache_.repo_dir(repo_) / "snapshots" / revision)) {
      return revision;
    }
    require_online(("the revision '" + revision + "'").c_str());
  }
  return repo_info(revision).sha;
}

std::vector<TreeEntry> RemoteRepo::list_tree(const std::string& revision, const std::string& prefix,
                                             bool recursive) {
  if (!prefix.empty()) check_repo_path(prefix, "a tree listing request");
  auto under_prefix = [&](const std::string& p) {
    return prefix.empty() || p == prefix || p.rfind(prefix + "/", 0) == 0;
  };
  auto depth_ok = [&](const std::string& p) {
    if (recursive) return true;
    size_t base = prefix.empty() ? 0 : prefix.size() + 1;
    return p.find('/', base) == std::string::npos;
  };
  std::string commit = resolve_commit(revision);
  if (auto cached = cache_.read_tree(repo_, commit)) {
    // The cached listing holds files only; add the directories they imply.
    std::vector<TreeEntry> out;
    std::set<std::string> dirs;
    for (const auto& e : *cached) {
      for (size_t pos = e.path.find('/'); pos != std::string::npos;
           pos = e.path.find('/', pos + 1)) {
        dirs.insert(e.path.substr(0, pos));
      }
      if (under_prefix(e.path) && e.path != prefix && depth_ok(e.path)) out.push_back(e);
    }
    for (const auto& d : dirs) {
      if (under_prefix(d) && d != prefix && depth_ok(d)) {
        TreeEntry e;
        e.path = d;
        e.is_dir = true;
        out.push_back(std::move(e));
      }
    }
    std::sort(out.begin(), out.end(),
              [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
    return out;
  }
  if (config_.offline) {
    // No listing was cached (e.g. a cache written by an older client): what the snapshot holds.
    auto files = cache_.list_snapshot_files(repo_, commit);
    if (files.empty()) require_online("the file listing");
    log_warn("HF_HUB_OFFLINE: listing ", repo_.display(), "@", commit,
             " from the files present in the cache (the hub's listing was never cached)");
    std::vector<TreeEntry> out;
    std::set<std::string> dirs;
    for (const auto& f : files) {
      for (size_t pos = f.find('/'); pos != std::string::npos; pos = f.find('/', pos + 1)) {
        dirs.insert(f.substr(0, pos));
      }
      if (under_prefix(f) && f != prefix && depth_ok(f)) {
        TreeEntry e;
        e.path = f;
        std::error_code ec;
        e.size = std::filesystem::file_size(cache_.snapshot_dir(repo_, commit) / f, ec);
        auto target = std::filesystem::read_symlink(cache_.snapshot_dir(repo_, commit) / f, ec);
        if (!ec) {
          std::string etag = target.filename().string();
          if (is_hex(etag, 64)) {
            e.lfs_sha256 = etag;
          } else {
            e.oid = etag;
          }
        }
        out.push_back(std::move(e));
      }
    }
    for (const auto& d : dirs) {
      if (under_prefix(d) && d != prefix && depth_ok(d)) {
        TreeEntry e;
        e.path = d;
        e.is_dir = true;
        out.push_back(std::move(e));
      }
    }
    std::sort(out.begin(), out.end(),
              [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
    return out;
  }

  std::string url = api_url("/tree/" + url_encode_segment(commit) +
                            (prefix.empty() ? "" : "/" + url_encode_path(prefix)) +
                            (recursive ? "?recursive=true" : ""));
  std::vector<TreeEntry> all;
  std::set<std::string> seen_urls, seen_paths;
  const size_t kMaxEntries = 2'000'000;
  while (!url.empty()) {
    if (!seen_urls.insert(url).second) {
      fail(ErrorKind::kFormat, "the tree listing of ", repo_.display(), "@", commit,
           " paginates in a loop (", url, ")");
    }
    HttpResponse res = get_json(url, "the file tree");
    auto page = parse_tree_json(res.body, url);
    for (auto& e : page) {
      if (!under_prefix(e.path)) {
        fail(ErrorKind::kFormat, "the tree listing ", url, " names '", e.path,
             "', which is outside the requested folder '", prefix, "'");
      }
      if (!seen_paths.insert(e.path).second) {
        fail(ErrorKind::kFormat, "the tree listing ", url, " names '", e.path, "' twice");
      }
      all.push_back(std::move(e));
    }
    if (all.size() > kMaxEntries) {
      fail(ErrorKind::kFormat, "the tree listing of ", repo_.display(), " has more than ",
           kMaxEntries, " entries");
    }
    std::string next = parse_link_next(res.header("link"));
    url = next.empty() ? "" : resolve_url(url, next);
  }
  std::sort(all.begin(), all.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  if (prefix.empty() && recursive) cache_.write_tree(repo_, commit, all);
  return all;
}

FileMetadata RemoteRepo::file_metadata(const std::string& revision, const std::string& path) {
  check_repo_path(path, "a file request");
  require_online("file metadata");
  HttpRequest req;
  req.method = "HEAD";
  req.url = file_url(revision, path);
  req.max_redirects = 0;
  req.timeout_ms = config_.request_timeout_ms;
  req.headers.emplace_back("Accept-Encoding", "identity");
  ++requests_;
  HttpResponse res = http_.request(req, {301, 302, 303, 307, 308});
  FileMetadata m;
  m.commit = res.header("x-repo-commit");
  std::string etag = res.header("x-linked-etag");
  m.etag = normalize_etag(etag.empty() ? res.header("etag") : etag);
  std::string size = res.header("x-linked-size");
  if (size.empty()) size = res.header("content-length");
  m.size = size.empty() ? 0 : std::strtoull(size.c_str(), nullptr, 10);
  std::string loc = res.header("location");
  m.location = loc.empty() ? req.url : resolve_url(req.url, loc);
  return m;
}

void RemoteRepo::download_file(const std::string& revision, const std::string& path,
                               const fs::path& dest) {
  check_repo_path(path, "a file request");
  std::string commit = resolve_commit(revision);
  std::string parent = path.find('/') == std::string::npos ? "" : path.substr(0, path.rfind('/'));
  auto entries = list_tree(commit, parent, false);
  for (const auto& e : entries) {
    if (e.path != path || e.is_dir) continue;
    ExpectedContent want = expected_for(e);
    require_online("file contents");
    download_verified(http_, file_url(commit, path), dest, want, repo_.display() + "/" + path,
                      commit, nullptr);
    return;
  }
  fail(ErrorKind::kNotFound, "file '", path, "' not found in ", repo_.display(), "@", commit);
}

}  // namespace khub::hub::net
