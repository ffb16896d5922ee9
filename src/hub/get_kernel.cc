#include "hub/get_kernel.h"

#include "core/error.h"
#include "core/logging.h"
#include "hub/source/local_kernels.h"
#include "hub/source/revision_id.h"
#include "loader/digest.h"
#include "loader/registry.h"

namespace khub::hub {
namespace fs = std::filesystem;

namespace {

std::shared_ptr<const HubSources> sources_for(const KernelOptions& options) {
  if (options.sources) return options.sources;
  return std::make_shared<const HubSources>(HubSources::from_environment());
}

void check_name(const loader::Kernel& k, const std::string& name) {
  if (name.empty() || k.has_layer(name) || k.has_function(name)) return;
  std::string layers, fns;
  for (const auto& l : k.manifest().layers) layers += (layers.empty() ? "" : ", ") + l.name;
  for (const auto& f : k.manifest().functions) fns += (fns.empty() ? "" : ", ") + f.name;
  fail(ErrorKind::kNotFound, k.identity().label(), " has no layer or function '", name,
       "' (layers: ", layers.empty() ? "none" : layers, "; functions: ", fns, ")");
}

loader::LoadOptions load_options_for(const KernelOptions& options, const RepoSource* source) {
  loader::LoadOptions lo;
  lo.verify = options.verify;
  lo.scope = source && source->remote() ? loader::TrustScope::kRemote : loader::TrustScope::kLocal;
  lo.locked_signers = options.locked_signers;
  lo.policy = options.trust_policy;
  lo.after_checks = options.after_checks;
  return lo;
}
loader::LoadOptions load_options_for(const KernelOptions& options, const RepoSource& source) {
  return load_options_for(options, &source);
}

const LockedKernel* locked_entry(const KernelOptions& options, const std::string& repo_id) {
  if (!options.locks) return nullptr;
  auto it = options.locks->find(repo_id);
  return it == options.locks->end() ? nullptr : &it->second;
}

loader::KernelIdentity identity_of(const KernelLookup& l) {
  loader::KernelIdentity id;
  id.repo = l.ref.repo_id();
  id.revision = l.resolution.revision;
  id.variant = l.selection.chosen()->name;
  id.dir = l.variant->dir;
  id.source = l.source;
  return id;
}

std::string no_variant_message(const std::string& what, const loader::Selection& sel) {
  return "no variant of " + what + " fits this machine (" + sel.system.describe() + "):\n" +
         sel.trace();
}

}  // namespace

loader::SystemInfo system_for(const KernelOptions& options) {
  if (options.system) return *options.system;
  return loader::SystemInfo::detect(options.device);
}

std::string KernelLookup::summary() const {
  std::string s = ref.str() + " -> " + resolution.revision;
  if (!resolution.how.empty()) s += " (" + resolution.how + ")";
  s += " from " + source;
  return s;
}

nlohmann::json KernelLookup::to_json() const {
  nlohmann::json j;
  j["ref"] = ref.str();
  j["repo"] = ref.repo_id();
  j["source"] = source;
  j["revision"] = resolution.revision;
  j["resolved-from"] = resolution.ref;
  j["how"] = resolution.how;
  j["notes"] = resolution.notes;
  j["system"] = selection.system.describe();
  j["variants"] = selection.to_json();
  const auto* c = selection.chosen();
  j["selected"] = c ? nlohmann::json(c->name) : nlohmann::json(nullptr);
  return j;
}

KernelLookup lookup_kernel(const std::string& text, const KernelOptions& options,
                           bool materialize) {
  KernelLookup out;
  out.ref = parse_kernel_ref(text);
  const LockedKernel* lock = locked_entry(options, out.ref.repo_id());
  if (lock) {
    if (out.ref.rev_kind != RevKind::kDefault && out.ref.rev != lock->revision) {
      log_info(out.ref.str(), ": @", out.ref.rev, " ignored: ", lock->lockfile, " locks ",
               out.ref.repo_id(), " to ", lock->revision);
    }
    out.ref.rev_kind = RevKind::kCommit;
    out.ref.rev = lock->revision;
  }
  auto sources = sources_for(options);
  HubSources::Resolved r = sources->resolve(out.ref);
  out.source = r.source->description();
  out.repo_source = r.source;
  out.resolution = r.resolution;
  for (const std::string& note : r.resolution.notes) log_info(out.ref.str(), ": ", note);
  const std::string repo = out.ref.repo_id();
  const std::string rev = r.resolution.revision;
  std::vector<std::string> variants = r.source->list_variants(repo, rev);
  if (lock) {
    if (rev != lock->revision) {
      fail(ErrorKind::kVerification, repo, ": ", lock->lockfile, " locks revision ", lock->revision,
           " but ", r.source->description(), " resolved it to ", rev);
    }
    std::erase_if(variants, [&](const std::string& v) { return !lock->variants.count(v); });
  }
  out.selection = loader::select_variant(variants, system_for(options), [&](const std::string& v) {
    std::string path = "build/" + v + "/metadata.json";
    return loader::parse_metadata(r.source->read_file(repo, rev, path),
                                  repo + "@" + rev.substr(0, 12) + ":" + path);
  });
  if (materialize && out.selection.chosen()) {
    out.variant = r.source->materialize_variant(repo, rev, out.selection.chosen()->name);
  }
  return out;
}

std::shared_ptr<const loader::Kernel> get_kernel(const std::string& ref,
                                                 const KernelOptions& options) {
  KernelLookup l = lookup_kernel(ref, options, true);
  if (!l.selection.chosen()) {
    fail(ErrorKind::kNotFound,
         no_variant_message(l.ref.repo_id() + "@" + l.resolution.revision + " (" +
                                l.resolution.how + ", " + l.source + ")",
                            l.selection));
  }
  loader::KernelIdentity id = identity_of(l);
  loader::LoadOptions lo = load_options_for(options, *l.repo_source);
  lo.trust_root = l.variant->trust_root;
  if (const LockedKernel* lock = locked_entry(options, l.ref.repo_id())) {
    const LockedKernel::Variant& v = lock->variants.at(id.variant);
    if (!v.metadata_digest.empty()) {
      std::string raw;
      loader::read_metadata(id.dir, &raw);
      std::string have = "sha256-" + loader::to_hex(loader::sha256_bytes(raw));
      if (have != v.metadata_digest) {
        fail(ErrorKind::kVerification, l.ref.repo_id(), "@", lock->revision, " variant ",
             id.variant, ": metadata.json is ", have, ", ", lock->lockfile, " locks ",
             v.metadata_digest);
      }
    }
    lo.locked_signers = v.signers;
  }
  auto kernel = loader::KernelRegistry::global().load(id, lo);
  check_name(*kernel, l.ref.name);
  return kernel;
}

loader::Selection select_local_variant(const fs::path& path, const KernelOptions& options) {
  auto folders = local_variant_folders(path);
  std::vector<std::string> names;
  for (const auto& [name, dir] : folders) names.push_back(name);
  return loader::select_variant(names, system_for(options), [&](const std::string& v) {
    return loader::read_metadata(folders.at(v));
  });
}

std::shared_ptr<const loader::Kernel> get_local_kernel(const fs::path& path,
                                                       const KernelOptions& options) {
  loader::Selection sel = select_local_variant(path, options);
  if (!sel.chosen()) fail(ErrorKind::kNotFound, no_variant_message(path.string(), sel));
  auto folders = local_variant_folders(path);
  loader::KernelIdentity id;
  id.revision = local_folder_revision(path);
  id.variant = sel.chosen()->name;
  id.dir = folders.at(id.variant);
  id.source = "path " + path.string();
  loader::LoadOptions lo = load_options_for(options, nullptr);
  lo.trust_root = path;
  return loader::KernelRegistry::global().load(id, lo);
}

loader::TrustVerdict lookup_trust(const KernelLookup& l, const KernelOptions& options) {
  if (!l.selection.chosen() || !l.variant) {
    fail(ErrorKind::kNotFound, l.ref.str(), ": no variant selected to check the trust of");
  }
  loader::LoadOptions lo = load_options_for(options, *l.repo_source);
  lo.trust_root = l.variant->trust_root;
  std::string raw;
  loader::read_metadata(l.variant->dir, &raw);
  return loader::check_variant_trust(identity_of(l), raw, lo);
}

loader::TrustVerdict local_variant_trust(const fs::path& variant_dir, const fs::path& trust_root,
                                         const KernelOptions& options) {
  loader::KernelIdentity id;
  id.revision = local_folder_revision(trust_root);
  id.variant = variant_dir.filename().string();
  id.dir = variant_dir;
  id.source = "path " + trust_root.string();
  loader::LoadOptions lo = load_options_for(options, nullptr);
  lo.trust_root = trust_root;
  std::string raw;
  loader::read_metadata(variant_dir, &raw);
  return loader::check_variant_trust(id, raw, lo);
}

bool has_kernel(const std::string& ref, const KernelOptions& options) {
  parse_kernel_ref(ref);  // malformed references are the caller's bug: throw
  try {
    return lookup_kernel(ref, options, false).selection.chosen() != nullptr;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kNotFound) return false;
    throw;
  }
}

}  // namespace khub::hub
