#include "hub/ref/hub_types.h"

#include "core/error.h"

#include "hub/ref/repo_names.h"

namespace khub::hub::net {

RepoType parse_repo_type(std::string_view name) {
  if (name == "kernel" || name == "kernels") return RepoType::kKernel;
  if (name == "model" || name == "models" || name.empty()) return RepoType::kModel;
  if (name == "dataset" || name == "datasets") return RepoType::kDataset;
  if (name == "space" || name == "spaces") return RepoType::kSpace;
  fail(ErrorKind::kInvalidArgument, "unknown repo type '", name,
       "' (expected kernel, model, dataset or space)");
}

std::string_view repo_type_name(RepoType t) {
  switch (t) {
    case RepoType::kModel:
      return "model";
    case RepoType::kKernel:
      return "kernel";
    case RepoType::kDataset:
      return "dataset";
    case RepoType::kSpace:
      return "space";
  }
  return "model";
}

std::string_view repo_type_api_segment(RepoType t) {
  switch (t) {
    case RepoType::kModel:
      return "models";
    case RepoType::kKernel:
      return "kernels";
    case RepoType::kDataset:
      return "datasets";
    case RepoType::kSpace:
      return "spaces";
  }
  return "models";
}

std::string_view repo_type_url_prefix(RepoType t) {
  return t == RepoType::kModel     ? std::string_view("")
         : t == RepoType::kKernel  ? "kernels/"
         : t == RepoType::kDataset ? "datasets/"
                                   : "spaces/";
}

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
