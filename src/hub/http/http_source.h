// The HTTP hub as one of the resolver's sources (hub/source/repo_source.h): HF_ENDPOINT's Hub API
// through the huggingface_hub-compatible cache. Registered with register_source_provider() when
// this object library is linked (the CLI links it), so HubSources::from_environment() ends with it:
// LOCAL_KERNELS -> local hub directories -> this source. With HF_HUB_OFFLINE=1 it answers from the
// cache only (versions, variants, info, has_kernel and loads work offline for what was fetched).
//
// A hub that cannot be reached (no route, DNS failure, connection refused) is probed once with a
// short timeout and then skipped for the rest of the process with one warning, so a lookup that
// misses the local hubs on a machine without network costs at most one connect attempt.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "hub/http/hf_api.h"
#include "hub/source/source_registry.h"

namespace khub::hub::net {

class HttpHubSource : public khub::hub::RepoSource {
 public:
  explicit HttpHubSource(HubConfig config);

  std::string description() const override;
  bool remote() const override { return true; }
  bool has_repo(const std::string& repo_id) override;
  khub::hub::RefList list_refs(const std::string& repo_id) override;
  bool has_revision(const std::string& repo_id, const std::string& revision) override;
  std::vector<khub::hub::TreeEntry> list_files(const std::string& repo_id,
                                               const std::string& revision) override;
  std::vector<std::string> list_variants(const std::string& repo_id,
                                         const std::string& revision) override;
  std::string read_file(const std::string& repo_id, const std::string& revision,
                        const std::string& path) override;
  khub::hub::MaterializedVariant materialize_variant(const std::string& repo_id,
                                                     const std::string& revision,
                                                     const std::string& variant) override;

  const HubConfig& config() const { return config_; }
  RemoteRepo& repo(const std::string& repo_id);

 private:
  std::vector<TreeEntry> tree(const std::string& repo_id, const std::string& revision);

  HubConfig config_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<RemoteRepo>> repos_;
  std::map<std::string, RefList> probed_refs_;  // refs fetched by has_repo(), used once
};

// Adds HttpHubSource(HubConfig::from_env()) to every HubSources::from_environment(). Called once
// by a static initializer of http_source.cc; safe to call again (it registers once).
void register_http_hub_source();

}  // namespace khub::hub::net
