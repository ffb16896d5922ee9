#include "cli/publish_http.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "hub/http/hf_api.h"
#include "hub/http/upload.h"
#include "hub/ref/version_resolve.h"

namespace khub::cli {
namespace {

namespace fs = std::filesystem;

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "khub-publish-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) fail(ErrorKind::kIo, "cannot create a temporary folder");
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

int major_of(const std::string& branch) {
  if (branch.size() < 2 || branch[0] != 'v') return -1;
  if (branch.find_first_not_of("0123456789", 1) != std::string::npos) return -1;
  return std::atoi(branch.c_str() + 1);
}

}  // namespace

int publish_to_http_hub(const fs::path& built, const std::string& hub_url,
                        const hub::PublishOptions& options, bool json) {
  using namespace khub::hub::net;
  ScratchDir staging;
  hub::PublishResult staged = hub::publish_kernel(built, staging.path / "hub", options);
  std::string branch;
  for (const auto& r : staged.refs_updated) {
    if (r.rfind("heads/", 0) == 0 && (branch.empty() || branch == "main")) branch = r.substr(6);
  }
  if (branch.empty()) fail(ErrorKind::kInternal, "the staged publish moved no branch");
  fs::path tree = staging.path / "hub" / staged.repo_id / "revisions" / staged.revision;

  HubConfig cfg = HubConfig::from_env();
  cfg.endpoint = hub_url;
  while (!cfg.endpoint.empty() && cfg.endpoint.back() == '/') cfg.endpoint.pop_back();
  cfg.offline = false;
  RemoteRepo remote(cfg, RepoRef{RepoType::kKernel, staged.repo_id});
  hub::RefList refs;
  try {
    for (const auto& b : remote.list_refs().branches) refs.branches[b.name] = b.commit;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kNotFound) throw;  // a new repository
  }
  // The local hub's rule for main: it follows the highest version branch.
  bool update_main = branch == "main" || !refs.branches.count("main");
  if (!update_main && major_of(branch) >= 0) {
    auto majors = hub::major_branches(refs);
    update_main = majors.empty() || major_of(branch) >= majors.front().first;
  }
  // The project's README and results replace the branch's (hub/store/publish.h docs_from).
  std::vector<std::string> replace;
  for (const auto& v : staged.variants) replace.push_back("build/" + v);
  for (const auto& d : staged.docs) {
    if (d.rfind("bench/results/", 0) != 0) replace.push_back(d);
  }
  if (std::any_of(staged.docs.begin(), staged.docs.end(),
                  [](const std::string& d) { return d.rfind("bench/results/", 0) == 0; })) {
    replace.push_back("bench/results");
  }
  auto is_replaced = [&](const std::string& path) {
    return std::any_of(replace.begin(), replace.end(), [&](const std::string& r) {
      return path == r || path.rfind(r + "/", 0) == 0;
    });
  };
  if (!options.sign_keys.empty() && refs.branches.count(branch)) {
    // The signatures name the staged revision; the server's revision equals it only when the
    // branch holds nothing but the variants being replaced.
    for (const auto& e : remote.list_tree(refs.branches[branch], "", true)) {
      if (e.is_dir || hub::is_revision_signature_path(e.path)) continue;
      if (!is_replaced(e.path)) {
        fail(ErrorKind::kInvalidArgument, "cannot sign for ", hub_url, ": branch ", branch, " of ",
             staged.repo_id, " also holds ", e.path,
             ", so the revision the hub computes is not known here; publish every variant of the "
             "branch together, or publish to a local hub, sign there and serve it");
      }
    }
  }
  UploadOptions up;
  up.branch = branch;
  if (update_main && branch != "main") up.extra_branches = {"main"};
  if (!options.tag.empty()) up.tags = {options.tag};
  up.base_branch = branch;
  up.replace = replace;
  UploadResult r = upload_revision(cfg, RepoRef{RepoType::kKernel, staged.repo_id}, tree, up);
  if (!options.sign_keys.empty() && r.revision != staged.revision) {
    fail(ErrorKind::kVerification, hub_url, " made revision ", r.revision, " of ", staged.repo_id,
         ", not the signed ", staged.revision, ": its signatures will be refused; sign it again");
  }

  std::vector<std::string> moved = {"heads/" + branch};
  if (!up.extra_branches.empty()) moved.push_back("heads/main");
  if (!options.tag.empty()) moved.push_back("tags/" + options.tag);
  if (json) {
    nlohmann::json j = {{"repo", staged.repo_id},       {"revision", r.revision},
                        {"hub", cfg.endpoint},          {"variants", staged.variants},
                        {"refs-updated", moved},        {"created", r.new_revision},
                        {"uploaded-files", r.uploaded}, {"uploaded-bytes", r.uploaded_bytes}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::string refs_text;
  for (const auto& m : moved) refs_text += (refs_text.empty() ? "" : ", ") + m;
  std::printf("%s %s@%s on %s (%zu variants, %d files uploaded); moved %s\n",
              r.new_revision ? "published" : "re-published", staged.repo_id.c_str(),
              r.revision.c_str(), cfg.endpoint.c_str(), staged.variants.size(), r.uploaded,
              refs_text.c_str());
  return 0;
}

}  // namespace khub::cli
