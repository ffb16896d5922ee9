#include "hub/source/local_hub.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/logging.h"
#include "hub/ref/hub_location.h"
#include "loader/safe_path.h"

namespace khub::hub {
namespace fs = std::filesystem;

namespace {

constexpr uintmax_t kMaxSmallFile = 16u << 20;

// Reads refs/<kind>/** into `out`, skipping (with a warning) anything malformed.
void read_refs(const fs::path& dir, std::map<std::string, std::string>* out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string name = it->path().lexically_relative(dir).generic_string();
    if (name.find("/.tmp-") != std::string::npos || name.rfind(".tmp-", 0) == 0) continue;
    if (!check_ref_name(name).empty()) {
      log_warn("local hub: ignoring ref file with an invalid name: ", it->path().string());
      continue;
    }
    std::ifstream in(it->path());
    std::string rev;
    std::getline(in, rev);
    while (!rev.empty() && (rev.back() == '\r' || rev.back() == ' ')) rev.pop_back();
    if (!is_revision_id(rev)) {
      log_warn("local hub: ignoring ref ", it->path().string(), ": content is not a revision id");
      continue;
    }
    (*out)[name] = rev;
  }
}

}  // namespace

bool is_revision_id(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::pair<std::string, std::string> split_repo_id(const std::string& repo_id) {
  size_t slash = repo_id.find('/');
  if (slash == std::string::npos) {
    fail(ErrorKind::kInvalidArgument, "repo id '", repo_id, "' must be org/repo");
  }
  std::string org = repo_id.substr(0, slash), repo = repo_id.substr(slash + 1);
  for (const auto& [part, what] :
       {std::pair{org, "the org name"}, std::pair{repo, "the repo name"}}) {
    std::string why = check_repo_component(part, what);
    if (!why.empty()) fail(ErrorKind::kInvalidArgument, "repo id '", repo_id, "': ", why);
  }
  return {org, repo};
}

LocalHubSource::LocalHubSource(fs::path root) : root_(std::move(root)) {
  require_hub_directory(root_, "local hub");
}

std::string LocalHubSource::description() const { return "local hub " + root_.string(); }

fs::path LocalHubSource::repo_dir(const std::string& repo_id) const {
  auto [org, repo] = split_repo_id(repo_id);
  return root_ / org / repo;
}

fs::path LocalHubSource::revision_dir(const std::string& repo_id,
                                      const std::string& revision) const {
  if (!is_revision_id(revision)) {
    fail(ErrorKind::kInvalidArgument, "'", revision, "' is not a revision id (40 lower-case hex)");
  }
  return repo_dir(repo_id) / "revisions" / revision;
}

bool LocalHubSource::has_repo(const std::string& repo_id) {
  std::error_code ec;
  return fs::is_directory(repo_dir(repo_id) / "refs", ec) ||
         fs::is_directory(repo_dir(repo_id) / "revisions", ec);
}

RefList LocalHubSource::list_refs(const std::string& repo_id) {
  RefList refs;
  fs::path dir = repo_dir(repo_id) / "refs";
  read_refs(dir / "heads", &refs.branches);
  read_refs(dir / "tags", &refs.tags);
  return refs;
}

bool LocalHubSource::has_revision(const std::string& repo_id, const std::string& revision) {
  if (!is_revision_id(revision)) return false;
  std::error_code ec;
  return fs::is_directory(revision_dir(repo_id, revision), ec);
}

std::vector<TreeEntry> LocalHubSource::list_files(const std::string& repo_id,
                                                  const std::string& revision) {
  fs::path dir = revision_dir(repo_id, revision);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail(ErrorKind::kNotFound, repo_id, ": no revision ", revision, " in ", description());
  }
  std::vector<TreeEntry> out;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (!loader::check_relative_path(rel).empty()) continue;
    out.push_back({rel, static_cast<uint64_t>(it->file_size()), ""});
  }
  if (ec) fail(ErrorKind::kIo, dir.string(), ": ", ec.message());
  std::sort(out.begin(), out.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return out;
}

std::vector<std::string> LocalHubSource::list_variants(const std::string& repo_id,
                                                       const std::string& revision) {
  fs::path dir = revision_dir(repo_id, revision) / "build";
  std::vector<std::string> out;
  std::error_code ec;
  if (!has_revision(repo_id, revision)) {
    fail(ErrorKind::kNotFound, repo_id, ": no revision ", revision, " in ", description());
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string LocalHubSource::read_file(const std::string& repo_id, const std::string& revision,
                                      const std::string& path) {
  std::string why = loader::check_relative_path(path);
  if (!why.empty()) fail(ErrorKind::kInvalidArgument, "path '", path, "': ", why);
  fs::path file = revision_dir(repo_id, revision) / path;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) fail(ErrorKind::kNotFound, file.string(), ": no such file");
  if (fs::file_size(file, ec) > kMaxSmallFile)
    fail(ErrorKind::kFormat, file.string(), ": too large");
  std::ifstream in(file, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

MaterializedVariant LocalHubSource::materialize_variant(const std::string& repo_id,
                                                        const std::string& revision,
                                                        const std::string& variant) {
  std::string why = loader::check_path_component(variant);
  if (!why.empty()) fail(ErrorKind::kInvalidArgument, "variant name '", variant, "': ", why);
  fs::path rev = revision_dir(repo_id, revision);
  fs::path dir = rev / "build" / variant;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail(ErrorKind::kNotFound, repo_id, "@", revision, ": no variant ", variant, " in ",
         description());
  }
  return {dir, rev};
}

std::vector<std::string> LocalHubSource::list_repos() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& org : fs::directory_iterator(root_, ec)) {
    if (!org.is_directory()) continue;
    std::error_code ec2;
    for (const auto& repo : fs::directory_iterator(org.path(), ec2)) {
      std::string id = org.path().filename().string() + "/" + repo.path().filename().string();
      if (!repo.is_directory()) continue;
      if (!check_repo_component(org.path().filename().string(), "org").empty()) continue;
      if (!check_repo_component(repo.path().filename().string(), "repo").empty()) continue;
      if (fs::is_directory(repo.path() / "refs", ec2)) out.push_back(id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace khub::hub
