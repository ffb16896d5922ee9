// The environment's kernel sources (docs/design.md §6.1): the factory behind
// HubSources::from_environment() — LOCAL_KERNELS, the local hub directories, then the providers
// other parts register (the HTTP hub through its cache) — and where the local hubs are looked for.
// The interface the sources implement is repo_source.h; this is the one part of hub/source that
// knows the implementations.
#pragma once

#include <filesystem>
#include <functional>
#include <vector>

#include "hub/source/repo_source.h"

namespace khub::hub {

// Other parts (the HTTP hub and its cache) append their sources here; called by from_environment.
using SourceProvider = std::function<void(HubSources&)>;
void register_source_provider(SourceProvider provider);

// Local hub directories: $KHUB_HUB_PATH split on ':' when set (even empty: then none), else the
// bundled hubs that exist (bundled_hub_candidates()).
std::vector<std::filesystem::path> hub_search_path();
// What from_environment() gives with `local_hubs` in place of hub_search_path(): LOCAL_KERNELS,
// these hub folders, then the providers (the Python module's get_kernel(hub=...)).
HubSources hub_sources_with(const std::vector<std::filesystem::path>& local_hubs);
// The bundled hub next to this executable (core/program_dir.h): <exe>/../hub (build/bin/khub ->
// build/hub), then <exe>/../share/khub/hub (an installed prefix).
std::vector<std::filesystem::path> bundled_hub_candidates();

}  // namespace khub::hub
