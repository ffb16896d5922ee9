#include "hub/http/upload.h"

#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/logging.h"
#include "hub/http/download.h"
#include "hub/http/http_client.h"
#include "hub/ref/repo_names.h"
#include "hub/store/content_hash.h"

namespace khub::hub::net {
namespace {

using json = nlohmann::json;

struct LocalFile {
  std::string path;  // in the repo
  std::filesystem::path file;
  std::string sha256;
  uint64_t size = 0;
  bool executable = false;
};

std::vector<LocalFile> scan(const std::filesystem::path& dir, const std::string& under) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::kNotFound, dir.string(), " is not a directory");
  std::vector<LocalFile> out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) fail(ErrorKind::kIo, "cannot stat ", it->path());
    if (S_ISDIR(st.st_mode)) continue;
    if (!S_ISREG(st.st_mode)) {
      fail(ErrorKind::kInvalidArgument, it->path().string(),
           " is not a regular file (symlinks and special files cannot be published)");
    }
    LocalFile f;
    f.path =
        (under.empty() ? "" : under + "/") + it->path().lexically_relative(dir).generic_string();
    check_repo_path(f.path, "the folder to publish");
    f.file = it->path();
    f.size = st.st_size;
    f.executable = st.st_mode & S_IXUSR;
    out.push_back(std::move(f));
  }
  if (ec) fail(ErrorKind::kIo, "cannot list ", dir.string(), ": ", ec.message());
  if (out.empty()) fail(ErrorKind::kInvalidArgument, dir.string(), " holds no files to publish");
  std::sort(out.begin(), out.end(),
            [](const LocalFile& a, const LocalFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace

UploadResult upload_revision(const HubConfig& config, const RepoRef& repo,
                             const std::filesystem::path& dir, const UploadOptions& options) {
  check_repo_id(repo.id);
  if (config.offline) {
    fail(ErrorKind::kInvalidArgument, "cannot publish to ", config.endpoint,
         ": HF_HUB_OFFLINE is set");
  }
  if (!config.token) {
    fail(ErrorKind::kInvalidArgument, "publishing to ", config.endpoint,
         " needs a token with write access: set HF_TOKEN (or write it to $HF_HOME/token)");
  }
  if (!options.branch.empty()) check_ref_name(options.branch, "the branch to publish to");
  for (const auto& t : options.tags) check_ref_name(t, "the tags to publish");
  for (const auto& b : options.extra_branches) check_ref_name(b, "the branches to publish");
  for (const auto& r : options.replace) check_repo_path(r, "the folders to replace");
  std::string under = options.path_in_repo;
  while (!under.empty() && under.back() == '/') under.pop_back();
  if (!under.empty()) check_repo_path(under, "the folder to publish into");

  std::vector<LocalFile> files = scan(dir, under);
  parallel_for(files.size(), config.max_workers, [&](size_t i) {
    files[i].sha256 = file_hash_hex(files[i].file, HashAlgo::kSha256);
  });

  HttpClient http(config.http_settings());
  std::string api = config.endpoint + "/api/" + std::string(repo_type_api_segment(repo.type)) +
                    "/" + repo.id + "/khub/";
  json listing = json::array();
  for (const auto& f : files) {
    listing.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
  }
  HttpRequest pre;
  pre.method = "POST";
  pre.url = api + "preupload";
  pre.headers = {{"Content-Type", "application/json"}};
  pre.body = json({{"files", listing}}).dump();
  json missing_j = json::parse(http.request(pre).body, nullptr, false);
  if (missing_j.is_discarded() || !missing_j.contains("missing") ||
      !missing_j["missing"].is_array()) {
    fail(ErrorKind::kFormat, "malformed answer from ", pre.url, " (expected {\"missing\": [...]})");
  }
  std::set<std::string> missing;
  for (const auto& m : missing_j["missing"]) {
    if (m.is_string()) missing.insert(m.get<std::string>());
  }

  UploadResult result;
  result.files = static_cast<int>(files.size());
  std::vector<const LocalFile*> to_send;
  std::set<std::string> queued;
  for (const auto& f : files) {
    if (missing.count(f.sha256) && queued.insert(f.sha256).second) to_send.push_back(&f);
  }
  parallel_for(to_send.size(), config.max_workers, [&](size_t i) {
    const LocalFile& f = *to_send[i];
    HttpRequest put;
    put.method = "PUT";
    put.url = config.endpoint + "/api/khub/blobs/" + f.sha256;
    put.body_file = f.file.string();
    put.timeout_ms = 0;
    put.headers = {{"Content-Type", "application/octet-stream"}};
    http.request(put);
  });
  result.uploaded = static_cast<int>(to_send.size());
  for (const auto* f : to_send) result.uploaded_bytes += f->size;

  json commit_files = json::array();
  for (const auto& f : files) {
    commit_files.push_back(
        {{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"executable", f.executable}});
  }
  json body = {{"files", commit_files},
               {"branch", options.branch},
               {"extra_branches", options.extra_branches},
               {"tags", options.tags},
               {"base_branch", options.base_branch},
               {"replace", options.replace},
               {"create_repo", options.create_repo},
               {"private", options.is_private}};
  if (options.parent) body["parent"] = *options.parent;
  HttpRequest commit;
  commit.method = "POST";
  commit.url = api + "commit";
  commit.headers = {{"Content-Type", "application/json"}};
  commit.body = body.dump();
  json out = json::parse(http.request(commit).body, nullptr, false);
  if (out.is_discarded() || !out.contains("commit") || !out["commit"].is_string()) {
    fail(ErrorKind::kFormat, "malformed answer from ", commit.url, " (expected {\"commit\": ...})");
  }
  result.revision = out["commit"].get<std::string>();
  check_revision_id(result.revision, commit.url);
  result.new_revision = out.value("new_revision", false);
  result.created_repo = out.value("created_repo", false);
  log_info("khub: published ", files.size(), " files to ", repo.display(), "@", result.revision,
           " (", result.uploaded, " uploaded)");
  return result;
}

}  // namespace khub::hub::net
