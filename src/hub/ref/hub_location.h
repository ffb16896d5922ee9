// Where a hub lives, as a user writes it: a local hub directory (local_hub.h) or the URL of an
// HTTP hub (`khub serve`, the Hugging Face Hub). Parsed here once, so that a URL never reaches
// code that opens or writes a directory: "http://host:port" taken as a path is a relative folder
// "http:/host:port/..." created wherever the command ran.
#pragma once

#include <filesystem>
#include <string>

namespace khub::hub {

struct HubLocation {
  enum class Kind { kDirectory, kHttp };
  Kind kind = Kind::kDirectory;
  std::filesystem::path directory;  // kDirectory
  std::string url;                  // kHttp: "http(s)://host[:port][/path]", no trailing '/'

  bool is_http() const { return kind == Kind::kHttp; }
};

// "http://..." and "https://..." are HTTP hubs; anything else with a "scheme://" prefix is an
// error (an unsupported scheme, not a folder); everything else is a directory. Throws
// Error(kInvalidArgument) naming `text` for "", an unsupported scheme, or a URL without a host.
HubLocation parse_hub_location(const std::string& text);

// Whether `text` starts with "<scheme>://" (letters, digits, '+', '-', '.'; a letter first).
bool is_url_shaped(const std::string& text);

// For every entry point that opens or writes a local hub directory: throws Error(kInvalidArgument)
// when `dir` is URL-shaped, naming it and `what` ("hub", "--root").
void require_hub_directory(const std::filesystem::path& dir, const std::string& what);

}  // namespace khub::hub
