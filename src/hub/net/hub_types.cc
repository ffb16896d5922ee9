#include "hub/net/hub_types.h"

#include "hub/net/repo_names.h"

namespace khub::hub::net {

std::string RepoRef::cache_folder() const {
  std::string out = std::string(repo_type_api_segment(type)) + "--";
  for (char c : id) {
    if (c == '/') {
      out += "--";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RepoRef::display() const { return std::string(repo_type_url_prefix(type)) + id; }

RepoRef RepoRef::parse(std::string_view text, RepoType default_type) {
  RepoRef r;
  r.type = default_type;
  for (std::string_view p : {"kernels/", "models/", "datasets/", "spaces/"}) {
    if (text.size() > p.size() && text.substr(0, p.size()) == p &&
        text.find('/', p.size()) != std::string_view::npos) {
      r.type = parse_repo_type(p.substr(0, p.size() - 1));
      text.remove_prefix(p.size());
      break;
    }
  }
  check_repo_id(text);
  r.id = std::string(text);
  return r;
}

std::optional<std::string> RefList::find(std::string_view name) const {
  for (const auto* list : {&branches, &tags}) {
    for (const auto& r : *list) {
      if (r.name == name || r.ref == name) return r.commit;
    }
  }
  return std::nullopt;
}

}  // namespace khub::hub::net
