// `khub publish <built> --hub http://...`: publishing to an HTTP hub (`khub serve` with a token).
#pragma once

#include <filesystem>
#include <string>

#include "hub/store/publish.h"

namespace khub::cli {

// Validates and lays out the variants exactly as a local publish does (into a temporary local
// hub), then uploads them with hub::net::upload_revision: the hub builds the new revision from the
// branch's current tree with these variants replaced, and moves the branch, the tag and main by
// the local hub's rules. Needs HF_TOKEN with write access. Returns the exit code.
int publish_to_http_hub(const std::filesystem::path& built, const std::string& hub_url,
                        const hub::PublishOptions& options, bool json);

}  // namespace khub::cli
