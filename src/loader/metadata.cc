#include "loader/metadata.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "loader/device_arch.h"
#include "loader/safe_path.h"

namespace khub::loader {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  fail(ErrorKind::kFormat, where, ": ", what);
}

std::string get_string(const json& obj, const char* key, const std::string& where, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) bad(where, std::string("missing key \"") + key + "\" (a string)");
    return "";
  }
  if (!it->is_string()) {
    bad(where, std::string("\"") + key + "\" must be a string, got " + it->type_name());
  }
  return it->get<std::string>();
}

const json* get_object(const json& obj, const char* key, const std::string& where, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) bad(where, std::string("missing key \"") + key + "\" (an object)");
    return nullptr;
  }
  if (!it->is_object()) {
    bad(where, std::string("\"") + key + "\" must be an object, got " + it->type_name());
  }
  return &*it;
}

}  // namespace

bool is_valid_kernel_name(const std::string& name) {
  if (name.size() < 2 || name.size() > 96) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  char last = name.back();
  if (!((last >= 'a' && last <= 'z') || (last >= '0' && last <= '9'))) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

VariantMetadata parse_metadata(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for huge numbers
    bad(where, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) bad(where, std::string("must be a JSON object, got ") + j.type_name());

  VariantMetadata md;
  md.name = get_string(j, "name", where, true);
  if (!is_valid_kernel_name(md.name)) {
    bad(where, "\"name\" '" + md.name + "' must match ^[a-z][-a-z0-9]*[a-z0-9]$");
  }
  md.id = get_string(j, "id", where, false);
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_integer() || v->get<long long>() < 0 ||
      v->get<long long>() > 1000000) {
    bad(where, "\"version\" must be a non-negative integer (the major version)");
  }
  md.version = v->get<int>();
  md.license = get_string(j, "license", where, false);

  const json* backend = get_object(j, "backend", where, true);
  std::string type = get_string(*backend, "type", where, true);
  if (!backend_kind_parse(type, &md.backend)) {
    bad(where, "backend.type '" + type +
                   "' is unknown (expected cpu, cuda, rocm, metal, xpu, cann, neuron or tpu)");
  }
  if (auto a = backend->find("archs"); a != backend->end() && !a->is_null()) {
    if (!a->is_array()) bad(where, "backend.archs must be an array of strings");
    for (const json& e : *a) {
      if (!e.is_string()) bad(where, "backend.archs must be an array of strings");
      std::string why = check_arch_string(md.backend, e.get<std::string>());
      if (!why.empty()) bad(where, "backend.archs: " + why);
      md.archs.push_back(e.get<std::string>());
    }
  }
  md.min_runtime = get_string(*backend, "min-runtime", where, false);

  if (const json* d = get_object(j, "digest", where, false)) {
    DigestSpec spec;
    spec.algorithm = get_string(*d, "algorithm", where, true);
    if (spec.algorithm != "sha256" && spec.algorithm != "sha512") {
      bad(where,
          "digest.algorithm '" + spec.algorithm + "' is unsupported (expected sha256 or sha512)");
    }
    const json* files = get_object(*d, "files", where, true);
    for (const auto& [path, hash] : files->items()) {
      std::string why = check_relative_path(path);
      if (!why.empty()) bad(where, "digest.files has a hostile path \"" + path + "\": " + why);
      if (!hash.is_string()) bad(where, "digest.files[\"" + path + "\"] must be a string");
      spec.files[path] = hash.get<std::string>();
    }
    md.digest = std::move(spec);
  }

  if (const json* p = get_object(j, "provenance", where, false)) {
    // HF: {"kernel-builder": {version, commit?, dirty?}, "kernel": {commit|sha, dirty}}.
    if (const json* b = get_object(*p, "kernel-builder", where, false)) {
      std::string name = get_string(*b, "name", where, false);
      md.provenance.builder =
          (name.empty() ? "kernel-builder" : name) + " " + get_string(*b, "version", where, false);
    }
    const json* k = get_object(*p, "kernel", where, false);
    const json& src = k ? *k : *p;
    md.provenance.commit = get_string(src, "commit", where, false);
    if (md.provenance.commit.empty()) md.provenance.commit = get_string(src, "sha", where, false);
    if (auto d = src.find("dirty"); d != src.end() && !d->is_null()) {
      if (!d->is_boolean()) bad(where, "provenance dirty must be true or false");
      md.provenance.dirty = d->get<bool>();
    }
  }

  md.library = get_string(j, "library", where, false);
  if (!md.library.empty()) {
    std::string why = check_relative_path(md.library);
    if (!why.empty()) bad(where, "\"library\" \"" + md.library + "\" is a hostile path: " + why);
  }
  md.source_digest = get_string(j, "source-digest", where, false);
  md.repo_id = get_string(j, "repo-id", where, false);
  if (auto m = j.find("manifest"); m != j.end() && !m->is_null()) {
    if (!m->is_object()) bad(where, "\"manifest\" must be an object");
    md.manifest = *m;
  }
  return md;
}

VariantMetadata read_metadata(const std::filesystem::path& variant_dir, std::string* raw) {
  std::filesystem::path file = variant_dir / "metadata.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, file.string(), ": no metadata.json in this variant");
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad()) fail(ErrorKind::kIo, file.string(), ": read failed");
  std::string text = os.str();
  VariantMetadata md = parse_metadata(text, file.string());
  if (raw) *raw = std::move(text);
  return md;
}

nlohmann::ordered_json metadata_to_json(const VariantMetadata& md) {
  nlohmann::ordered_json j;
  j["name"] = md.name;
  j["id"] = md.id;
  j["version"] = md.version;
  j["license"] = md.license;
  nlohmann::ordered_json backend;
  backend["type"] = std::string(backend_kind_name(md.backend));
  if (!md.archs.empty()) backend["archs"] = md.archs;
  if (!md.min_runtime.empty()) backend["min-runtime"] = md.min_runtime;
  j["backend"] = backend;
  if (!md.library.empty()) j["library"] = md.library;
  if (md.digest) {
    nlohmann::ordered_json files = nlohmann::ordered_json::object();
    for (const auto& [path, hash] : md.digest->files) files[path] = hash;
    j["digest"] = {{"algorithm", md.digest->algorithm}, {"files", files}};
  }
  nlohmann::ordered_json prov;
  std::string builder = md.provenance.builder;
  auto space = builder.find(' ');
  prov["kernel-builder"] = {
      {"name", builder.substr(0, space)},
      {"version", space == std::string::npos ? "" : builder.substr(space + 1)}};
  nlohmann::ordered_json kernel;
  kernel["commit"] = md.provenance.commit.empty() ? nlohmann::ordered_json(nullptr)
                                                  : nlohmann::ordered_json(md.provenance.commit);
  kernel["dirty"] = md.provenance.dirty ? nlohmann::ordered_json(*md.provenance.dirty)
                                        : nlohmann::ordered_json(nullptr);
  prov["kernel"] = kernel;
  j["provenance"] = prov;
  if (!md.source_digest.empty()) j["source-digest"] = md.source_digest;
  if (!md.repo_id.empty()) j["repo-id"] = md.repo_id;
  j["kernel-depends"] = nlohmann::ordered_json::array();
  j["python-depends"] = nlohmann::ordered_json::array();
  if (!md.manifest.is_null()) j["manifest"] = md.manifest;
  return j;
}

}  // namespace khub::loader
