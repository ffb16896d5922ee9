#include "hub/source/source_registry.h"

#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "core/env.h"
#include "core/error.h"
#include "core/program_dir.h"
#include "hub/source/local_hub.h"
#include "hub/source/local_kernels.h"

namespace khub::hub {
namespace fs = std::filesystem;

namespace {

std::mutex& providers_mu() {
  static std::mutex mu;
  return mu;
}
std::vector<SourceProvider>& providers() {
  static std::vector<SourceProvider> p;
  return p;
}

}  // namespace

void register_source_provider(SourceProvider provider) {
  std::lock_guard<std::mutex> lock(providers_mu());
  providers().push_back(std::move(provider));
}

std::vector<fs::path> bundled_hub_candidates() {
  fs::path dir = program_dir();
  if (dir.empty()) return {};
  return {(dir / ".." / "hub").lexically_normal(),
          (dir / ".." / "share" / "khub" / "hub").lexically_normal()};
}

std::vector<fs::path> hub_search_path() {
  std::vector<fs::path> out;
  if (std::optional<std::string> env = env::raw("KHUB_HUB_PATH")) {
    const std::string& s = *env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t colon = s.find(':', start);
      std::string item =
          s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!item.empty()) out.emplace_back(item);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    return out;
  }
  for (const fs::path& p : bundled_hub_candidates()) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) out.push_back(p);
  }
  return out;
}

HubSources HubSources::from_environment() { return hub_sources_with(hub_search_path()); }

HubSources hub_sources_with(const std::vector<fs::path>& local_hubs) {
  HubSources s;
  if (std::optional<std::string> lk = env::get("LOCAL_KERNELS")) {
    s.add(std::make_shared<LocalKernelsSource>(LocalKernelsSource::parse(*lk)));
  }
  for (const fs::path& dir : local_hubs) s.add(std::make_shared<LocalHubSource>(dir));
  std::vector<SourceProvider> ps;
  {
    std::lock_guard<std::mutex> lock(providers_mu());
    ps = providers();
  }
  for (const SourceProvider& p : ps) p(s);
  return s;
}

}  // namespace khub::hub
