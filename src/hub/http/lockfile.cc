#include "hub/http/lockfile.h"

#include <sys/stat.h>

#include <toml++/toml.h>
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/logging.h"
#include "core/toml_ascii.h"
#include "hub/http/snapshot.h"
#include "hub/ref/repo_names.h"
#include "hub/store/content_hash.h"
#include "loader/signature.h"
#include "loader/trust_policy.h"
#include "loader/variant_loader.h"

namespace khub::hub::net {
namespace {

using ojson = nlohmann::ordered_json;

bool is_bytecode(const std::string& path) {
  return (path.size() >= 4 && path.compare(path.size() - 4, 4, ".pyc") == 0) ||
         ("/" + path + "/").find("/__pycache__/") != std::string::npos;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

std::vector<std::string> names_of(const std::vector<GitRef>& refs) {
  std::vector<std::string> out;
  for (const auto& r : refs) out.push_back(r.name);
  return out;
}

KernelDependency parse_dependency(const std::string& key, const toml::node& value,
                                  const std::string& source) {
  KernelDependency dep;
  dep.repo = RepoRef::parse(key, RepoType::kKernel);
  auto spec_of = [&](const toml::node& n) -> std::string {
    if (auto i = n.as_integer()) {
      if (i->get() < 0) fail(ErrorKind::kInvalidArgument, source, ": version of ", key, " < 0");
      return std::to_string(i->get());
    }
    if (auto s = n.as_string()) return s->get();
    fail(ErrorKind::kInvalidArgument, source, ": the version of ", key,
         " must be an integer (major version) or a string (revision)");
  };
  if (const auto* t = value.as_table()) {
    for (const auto& [k, v] : *t) {
      std::string name(k.str());
      if (name == "version" || name == "revision") {
        dep.spec = spec_of(v);
      } else if (name == "variants") {
        const auto* arr = v.as_array();
        if (!arr) fail(ErrorKind::kInvalidArgument, source, ": ", key, ".variants is not a list");
        for (const auto& item : *arr) {
          auto s = item.as_string();
          if (!s)
            fail(ErrorKind::kInvalidArgument, source, ": ", key, ".variants holds a non-string");
          dep.variants.push_back(s->get());
        }
      } else if (name == "repo-type" || name == "repo_type") {
        auto s = v.as_string();
        if (!s) fail(ErrorKind::kInvalidArgument, source, ": ", key, ".repo-type is not a string");
        dep.repo.type = parse_repo_type(s->get());
      } else {
        fail(ErrorKind::kInvalidArgument, source, ": unknown key '", name, "' for ", key,
             " (expected version, revision, variants, repo-type)");
      }
    }
  } else {
    dep.spec = spec_of(value);
  }
  return dep;
}

// The trusted keys whose signature of repo@sha/variant verifies and covers this metadata.json
// (the rest of the statement is checked when the variant is loaded).
std::vector<std::string> lock_signers(const fs::path& variant_dir, const std::string& repo,
                                      const std::string& sha, const std::string& variant,
                                      const std::string& metadata_hex) {
  auto policy = loader::active_trust_policy();
  std::vector<std::string> out;
  for (const auto& [file, text] : loader::read_signature_files(variant_dir)) {
    try {
      loader::SignatureFile sig = loader::parse_signature_file(text, file);
      if (policy->revoked.count(sig.key.id) || !policy->find_key(sig.key.id, repo) ||
          !loader::verify_signature(sig.key, sig.signature, sig.statement)) {
        continue;
      }
      loader::Statement st = loader::parse_statement(sig.statement, file);
      bool covers = std::any_of(st.files.begin(), st.files.end(), [&](const auto& f) {
        return f.path == "metadata.json" && f.hex == metadata_hex;
      });
      if (st.repo == repo && st.revision == sha && st.variant == variant && covers) {
        out.push_back(sig.key.id);
      }
    } catch (const Error& e) {
      log_warn(repo, "@", sha, " ", variant, ": ", file, " left out of the lock: ", e.what());
    }
  }
  return out;
}

}  // namespace

std::vector<KernelDependency> read_kernel_list(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, file.string(), ": no such kernel list");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  toml::table doc;
  try {
    doc = toml::parse(toml_ascii(text, file.string()), file.string());  // core/toml_ascii.h
  } catch (const toml::parse_error& e) {
    fail(ErrorKind::kFormat, file.string(), ":", e.source().begin.line, ": ", e.description());
  }
  const toml::table* deps = nullptr;
  if (file.filename() == "pyproject.toml") {
    deps = doc["tool"]["kernels"]["dependencies"].as_table();
    if (!deps) fail(ErrorKind::kNotFound, file.string(), " has no [tool.kernels.dependencies]");
  } else {
    deps = doc["dependencies"].as_table();
    if (!deps) {
      fail(ErrorKind::kFormat, file.string(),
           " has no [dependencies] table (expected e.g. \"org/name\" = 1)");
    }
  }
  std::vector<KernelDependency> out;
  for (const auto& [k, v] : *deps)
    out.push_back(parse_dependency(std::string(k.str()), v, file.string()));
  std::sort(out.begin(), out.end(), [](const KernelDependency& a, const KernelDependency& b) {
    return a.repo.id < b.repo.id;
  });
  return out;
}

std::string lockfile_json(const std::vector<KernelLock>& locks) {
  ojson arr = ojson::array();
  auto sorted = locks;
  std::sort(sorted.begin(), sorted.end(),
            [](const KernelLock& a, const KernelLock& b) { return a.repo.id < b.repo.id; });
  for (const auto& l : sorted) {
    ojson variants = ojson::object(), ours = ojson::object();
    for (const auto& [name, v] : l.variants) {
      variants[name] = {{"hash", v.hash}, {"hash_type", v.hash_type}};
      ojson o = {{"files", v.files}, {"bytes", v.bytes}};
      if (!v.metadata_digest.empty()) o["metadata"] = v.metadata_digest;
      if (!v.signers.empty()) o["signers"] = v.signers;
      ours[name] = o;
    }
    ojson k = {{"repo_type", repo_type_name(l.repo.type)},
               {"requested", l.requested},
               {"ref", l.ref},
               {"variants", ours}};
    arr.push_back({{"repo_id", l.repo.id}, {"sha", l.sha}, {"variants", variants}, {"khub", k}});
  }
  return arr.dump(2) + "\n";
}

void write_lockfile(const fs::path& file, const std::vector<KernelLock>& locks) {
  write_file_atomic(file, lockfile_json(locks));
}

std::vector<KernelLock> read_lockfile(const fs::path& file) {
  auto text = read_small_file(file);
  if (!text) fail(ErrorKind::kNotFound, "lockfile ", file.string(), " not found");
  std::string src = file.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const std::exception& e) {
    fail(ErrorKind::kFormat, src, " is not valid JSON: ", e.what());
  }
  if (!j.is_array()) fail(ErrorKind::kFormat, src, ": expected a JSON array of kernel locks");
  std::vector<KernelLock> out;
  try {
    for (const auto& item : j) {
      KernelLock l;
      RepoType type = RepoType::kKernel;
      if (item.contains("khub") && item["khub"].contains("repo_type")) {
        type = parse_repo_type(item["khub"]["repo_type"].get<std::string>());
      }
      l.repo = RepoRef::parse(item.at("repo_id").get<std::string>(), type);
      l.sha = item.at("sha").get<std::string>();
      check_revision_id(l.sha, src);
      if (item.contains("variants")) {
        for (const auto& [name, v] : item["variants"].items()) {
          check_repo_path(name, src);
          VariantLock vl;
          vl.hash = v.at("hash").get<std::string>();
          vl.hash_type = v.value("hash_type", std::string("git_lfs_concat"));
          l.variants[name] = vl;
        }
      }
      if (item.contains("khub")) {
        const auto& k = item["khub"];
        l.requested = k.value("requested", std::string());
        l.ref = k.value("ref", std::string());
        if (k.contains("variants")) {
          for (const auto& [name, v] : k["variants"].items()) {
            auto it = l.variants.find(name);
            if (it == l.variants.end()) continue;
            it->second.metadata_digest = v.value("metadata", std::string());
            it->second.files = v.value("files", size_t{0});
            it->second.bytes = v.value("bytes", uint64_t{0});
            if (v.contains("signers")) {
              for (const auto& id : v.at("signers")) {
                std::string key = id.get<std::string>();
                if (key.size() != 16 || key.find_first_not_of("0123456789abcdef") != key.npos) {
                  fail(ErrorKind::kFormat, src, ": signer \"", key.substr(0, 40), "\" of ", name,
                       " is not a key id (16 lower-case hex digits)");
                }
                it->second.signers.push_back(key);
              }
            }
          }
        }
      }
      out.push_back(std::move(l));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kFormat, src, ": malformed kernel lock: ", e.what());
  }
  return out;
}

std::string variant_lock_hash(const std::vector<TreeEntry>& tree, const std::string& variant) {
  std::string prefix = "build/" + variant + "/";
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : tree) {
    if (e.is_dir || e.path.rfind(prefix, 0) != 0 || is_bytecode(e.path)) continue;
    files.emplace_back(e.path.substr(prefix.size()), e.etag());
  }
  std::sort(files.begin(), files.end());
  Hasher h(HashAlgo::kSha256);
  for (const auto& [path, hash] : files) {
    h.update(path);
    h.update(from_hex(hash));
  }
  return "sha256-" + h.finish_hex();
}

std::string default_revision_resolver(const RefList& refs, const std::string& spec) {
  auto major_of = [](const std::string& name) -> long {
    if (name.size() < 2 || name[0] != 'v') return -1;
    if (!std::all_of(name.begin() + 1, name.end(), ::isdigit)) return -1;
    return std::atol(name.c_str() + 1);
  };
  if (spec.empty()) {
    long best = -1;
    std::string best_name;
    for (const auto& b : refs.branches) {
      if (major_of(b.name) > best) {
        best = major_of(b.name);
        best_name = b.name;
      }
    }
    if (!best_name.empty()) return best_name;
    if (refs.find("main")) return "main";
    fail(ErrorKind::kNotFound,
         "no vN branch and no main branch (branches: ", join(names_of(refs.branches)), ")");
  }
  if (std::all_of(spec.begin(), spec.end(), ::isdigit)) {
    std::string branch = "v" + spec;
    for (const auto& b : refs.branches) {
      if (b.name == branch) return branch;
    }
    std::vector<std::string> versions;
    for (const auto& b : refs.branches) {
      if (major_of(b.name) >= 0) versions.push_back(b.name);
    }
    fail(ErrorKind::kNotFound, "version ", spec, " (branch ", branch,
         ") does not exist; versions: ", join(versions));
  }
  if (is_commit_hash(spec)) return spec;
  if (refs.find(spec)) return spec;
  if (spec.find_first_of("<>=^~*,") != std::string::npos) {
    fail(ErrorKind::kUnsupported, "the version constraint '", spec,
         "' needs the hub's revision resolver, which this caller did not pass; use a major "
         "version, a tag, a branch or a commit (tags: ",
         join(names_of(refs.tags)), ")");
  }
  fail(ErrorKind::kNotFound, "no branch or tag named '", spec,
       "' (branches: ", join(names_of(refs.branches)), "; tags: ", join(names_of(refs.tags)), ")");
}

KernelLock lock_kernel(RemoteRepo& repo, const KernelDependency& dep,
                       const RevisionResolver& resolve) {
  KernelLock lock;
  lock.repo = repo.repo();
  lock.requested = dep.spec;
  RefList refs = repo.list_refs();
  std::string rev;
  try {
    rev = resolve(refs, dep.spec);
  } catch (const Error& e) {
    throw Error(e.kind(), repo.repo().display() + ": " + e.what());
  }
  if (is_commit_hash(rev)) {
    lock.sha = rev;
  } else {
    lock.ref = rev;
    auto c = refs.find(rev);
    lock.sha = c ? *c : repo.resolve_commit(rev);
  }
  std::vector<TreeEntry> tree = repo.list_tree(lock.sha, "", true);
  std::vector<std::string> available = variant_names(tree);
  std::vector<std::string> chosen = dep.variants.empty() ? available : dep.variants;
  for (const auto& v : chosen) {
    if (std::find(available.begin(), available.end(), v) == available.end()) {
      fail(ErrorKind::kNotFound, repo.repo().display(), "@", lock.sha, " has no variant ", v,
           " (variants: ", join(available), ")");
    }
  }
  std::vector<std::string> metadata_paths, signature_paths;
  for (const auto& e : tree) {
    for (const auto& v : chosen) {
      std::string prefix = "build/" + v + "/";
      if (!e.is_dir && e.path.rfind(prefix, 0) == 0 &&
          loader::is_signature_path(e.path.substr(prefix.size()))) {
        signature_paths.push_back(e.path);
      }
    }
  }
  for (const auto& v : chosen) {
    VariantLock vl;
    vl.hash = variant_lock_hash(tree, v);
    for (const auto& e : tree) {
      if (!e.is_dir && e.path.rfind("build/" + v + "/", 0) == 0 && !is_bytecode(e.path)) {
        ++vl.files;
        vl.bytes += e.size;
        if (e.path == "build/" + v + "/metadata.json") metadata_paths.push_back(e.path);
      }
    }
    lock.variants[v] = vl;
  }
  if (!metadata_paths.empty()) {
    SnapshotRequest req;
    req.revision = lock.sha;
    req.allow_prefixes = metadata_paths;
    req.allow_prefixes.insert(req.allow_prefixes.end(), signature_paths.begin(),
                              signature_paths.end());
    req.verify_metadata_digests = false;
    SnapshotResult snap = snapshot_download(repo, req);
    for (const auto& p : metadata_paths) {
      std::string v = p.substr(6, p.size() - 6 - std::string("/metadata.json").size());
      std::string hex = file_hash_hex(snap.dir / p, HashAlgo::kSha256);
      lock.variants[v].metadata_digest = "sha256-" + hex;
      lock.variants[v].signers =
          lock_signers(snap.dir / "build" / v, lock.repo.id, lock.sha, v, hex);
    }
  }
  return lock;
}

fs::path fetch_locked(const HubConfig& config, const KernelLock& lock,
                      const std::vector<std::string>& variants) {
  std::vector<std::string> chosen = variants;
  if (chosen.empty()) {
    for (const auto& [name, v] : lock.variants) chosen.push_back(name);
  }
  RemoteRepo repo(config, lock.repo);
  SnapshotRequest req;
  req.revision = lock.sha;
  for (const auto& v : chosen) {
    if (!lock.variants.count(v)) {
      std::vector<std::string> locked;
      for (const auto& [n, x] : lock.variants) locked.push_back(n);
      fail(ErrorKind::kNotFound, "variant ", v, " of ", lock.repo.id,
           " is not in the lockfile (locked: ", join(locked), ")");
    }
    req.allow_prefixes.push_back("build/" + v);
  }
  SnapshotResult snap = snapshot_download(repo, req);
  for (const auto& v : chosen) {
    fs::path dir = locked_variant(config, lock, v);
    const std::vector<std::string>& signers = lock.variants.at(v).signers;
    if (signers.empty()) continue;  // locked unsigned: the load's own check decides
    // The policy's one check, as a load would make it, with the signers the lock recorded: a
    // revision re-signed by another key is refused before anything of it is used.
    loader::KernelIdentity id;
    id.repo = lock.repo.id;
    id.revision = lock.sha;
    id.variant = v;
    id.dir = dir;
    id.source = "kernels.lock via " + config.endpoint;
    loader::LoadOptions lo;
    lo.scope = loader::TrustScope::kRemote;
    lo.trust_root = snap.dir.parent_path().parent_path();
    lo.locked_signers = signers;
    std::ifstream in(dir / "metadata.json", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    loader::TrustVerdict verdict = loader::check_variant_trust(id, raw, lo);
    if (!verdict.allowed) fail(ErrorKind::kVerification, verdict.reason);
  }
  return snap.dir;
}

fs::path locked_variant(const HubConfig& config, const KernelLock& lock,
                        const std::string& variant) {
  HubCache cache(config.cache_root);
  std::string where = lock.repo.display() + "@" + lock.sha;
  auto it = lock.variants.find(variant);
  if (it == lock.variants.end()) {
    std::vector<std::string> locked;
    for (const auto& [n, x] : lock.variants) locked.push_back(n);
    fail(ErrorKind::kNotFound, "variant ", variant, " of ", lock.repo.id,
         " is not in the lockfile (locked: ", join(locked), ")");
  }
  std::string hint =
      "; fetch it with `khub download --lock kernels.lock` (cache: " + cache.root().string() + ")";
  auto tree = cache.read_tree(lock.repo, lock.sha);
  if (!tree) fail(ErrorKind::kNotFound, where, " is not in the cache", hint);
  std::string hash = variant_lock_hash(*tree, variant);
  if (it->second.hash_type != "git_lfs_concat") {
    fail(ErrorKind::kUnsupported, "lock hash type '", it->second.hash_type, "' of ", where,
         " is not supported (expected git_lfs_concat)");
  }
  if (hash != it->second.hash) {
    fail(ErrorKind::kVerification, "the cached listing of ", where, " does not match the lock for ",
         variant, ": lock ", it->second.hash, ", cache ", hash);
  }
  std::string prefix = "build/" + variant + "/";
  fs::path snap = cache.snapshot_dir(lock.repo, lock.sha);
  for (const auto& e : *tree) {
    if (e.is_dir || e.path.rfind(prefix, 0) != 0 || is_bytecode(e.path)) continue;
    if (!cache.has_snapshot_file(lock.repo, lock.sha, e.path, e.etag())) {
      fail(ErrorKind::kNotFound, where, ": ", e.path, " is not in the cache", hint);
    }
    struct stat st;
    if (::stat((snap / e.path).c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != e.size) {
      fail(ErrorKind::kVerification, where, ": cached ", e.path, " has ", st.st_size,
           " bytes, the lock's listing says ", e.size);
    }
  }
  if (!it->second.metadata_digest.empty()) {
    fs::path meta = snap / prefix / "metadata.json";
    Digest want = parse_digest(it->second.metadata_digest);
    std::string got = file_hash_hex(meta, HashAlgo::kSha256);
    if (got != want.hex()) {
      fail(ErrorKind::kVerification, where, ": ", prefix, "metadata.json has sha256 ", got,
           ", the lock says ", want.hex());
    }
  }
  return snap / "build" / variant;
}

}  // namespace khub::hub::net
