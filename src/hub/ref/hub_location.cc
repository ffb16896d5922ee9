#include "hub/ref/hub_location.h"

#include <cctype>

#include "core/error.h"

namespace khub::hub {

bool is_url_shaped(const std::string& text) {
  size_t sep = text.find("://");
  if (sep == std::string::npos || sep == 0) return false;
  if (!std::isalpha(static_cast<unsigned char>(text[0]))) return false;
  for (size_t i = 1; i < sep; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

HubLocation parse_hub_location(const std::string& text) {
  if (text.empty())
    fail(ErrorKind::kInvalidArgument, "hub location is empty (a DIR or an http(s) URL)");
  HubLocation loc;
  if (!is_url_shaped(text)) {
    loc.directory = text;
    return loc;
  }
  std::string scheme = text.substr(0, text.find("://"));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") {
    fail(ErrorKind::kInvalidArgument, "hub location '", text, "': unsupported scheme '", scheme,
         "://' (expected a directory or an http:// or https:// URL)");
  }
  std::string url = text;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() <= scheme.size() + 3) {
    fail(ErrorKind::kInvalidArgument, "hub location '", text, "': the URL names no host");
  }
  loc.kind = HubLocation::Kind::kHttp;
  loc.url = url;
  return loc;
}

void require_hub_directory(const std::filesystem::path& dir, const std::string& what) {
  if (is_url_shaped(dir.string())) {
    fail(ErrorKind::kInvalidArgument, what, " '", dir.string(),
         "' is a URL, not a local hub directory");
  }
}

}  // namespace khub::hub
