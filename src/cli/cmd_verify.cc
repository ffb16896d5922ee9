// khub verify REF|PATH [--all-variants] [--device cpu|cuda[:N]] [--json]: re-hashes the selected
// variant (or every variant) against its metadata.json digest — ignoring receipts — checks that a
// khub library exports exactly its manifest's symbols, and checks every signature against the
// trust policy, saying which key signed what (loader/trust_policy.h). Exit 1 on any mismatch or
// when the policy would refuse the variant.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/kernel_cli.h"
#include "core/error.h"
#include "hub/get_kernel.h"
#include "hub/source/local_kernels.h"
#include "hub/source/revision_id.h"
#include "khub/kernel_abi.h"
#include "loader/digest.h"
#include "loader/elf_symbols.h"
#include "loader/manifest.h"
#include "loader/variant_loader.h"

namespace khub::cli {
namespace {

// Problems of one variant folder ("" entries never appear; empty = verified).
std::vector<std::string> verify_folder(const hub::MaterializedVariant& mv, const std::string& name,
                                       loader::KernelIdentity identity,
                                       const loader::LoadOptions& lo, loader::TrustVerdict* trust) {
  std::vector<std::string> problems;
  try {
    std::string raw;
    loader::VariantMetadata md = loader::read_metadata(mv.dir, &raw);
    loader::VerifyOptions vo;
    vo.use_receipt = false;
    vo.trust_root = mv.trust_root;
    for (const auto& p : loader::check_variant_digest(mv.dir, md, mv.trust_root)) {
      problems.push_back(loader::describe(p));
    }
    auto parsed = loader::parse_variant_name(name);
    if (problems.empty() && parsed && parsed->family == loader::VariantFamily::kKhub) {
      std::filesystem::path lib = loader::find_kernel_library(mv.dir, md);
      auto expected =
          loader::manifest_json_symbols(md.manifest, (mv.dir / "metadata.json").string());
      expected.insert(KHUB_KERNEL_ENTRY_SYMBOL);
      auto exported = loader::elf_exported_symbols(lib);
      for (const auto& s : exported) {
        if (!expected.count(s))
          problems.push_back("library exports " + s + ", which the manifest does not list");
      }
      for (const auto& s : expected) {
        if (!exported.count(s)) problems.push_back("library does not export " + s);
      }
    }
    if (problems.empty()) loader::verify_variant(mv.dir, md, raw, vo);  // refreshes the receipt
    if (problems.empty()) {
      identity.variant = name;
      identity.dir = mv.dir;
      *trust = loader::check_variant_trust(identity, raw, lo);
      if (!trust->allowed) problems.push_back(trust->reason);
    }
  } catch (const Error& e) {
    problems.push_back(e.what());
  }
  return problems;
}

}  // namespace

int cmd_verify(const Args& args) {
  if (args.positionals().size() != 1) {
    std::fprintf(stderr,
                 "usage: khub verify REF|PATH [--all-variants] [--device cpu|cuda[:N]] [--json]\n");
    return 2;
  }
  const std::string ref = args.positionals()[0];
  hub::KernelOptions opts = options_for_device(args.get("device"));
  std::vector<std::pair<std::string, hub::MaterializedVariant>> targets;
  std::string what = ref;
  loader::KernelIdentity identity;
  identity.source = "path " + ref;
  loader::LoadOptions lo;
  if (is_path_ref(ref)) {
    identity.revision = hub::local_folder_revision(ref);
    auto folders = hub::local_variant_folders(ref);
    if (args.has("all-variants")) {
      for (const auto& [n, dir] : folders) targets.push_back({n, {dir, ref}});
    } else {
      loader::Selection sel = hub::select_local_variant(ref, opts);
      if (!sel.chosen()) fail(ErrorKind::kNotFound, "no variant of ", ref, " fits:\n", sel.trace());
      targets.push_back({sel.chosen()->name, {folders.at(sel.chosen()->name), ref}});
    }
  } else {
    hub::KernelLookup l = hub::lookup_kernel(ref, opts, false);
    what = l.summary();
    identity.repo = l.ref.repo_id();
    identity.revision = l.resolution.revision;
    identity.source = l.source;
    lo.scope = l.repo_source->remote() ? loader::TrustScope::kRemote : loader::TrustScope::kLocal;
    std::vector<std::string> names;
    if (args.has("all-variants")) {
      names = l.repo_source->list_variants(l.ref.repo_id(), l.resolution.revision);
    } else {
      if (!l.selection.chosen()) {
        fail(ErrorKind::kNotFound, "no variant of ", ref, " fits this machine:\n",
             l.selection.trace());
      }
      names.push_back(l.selection.chosen()->name);
    }
    for (const auto& n : names) {
      targets.push_back(
          {n, l.repo_source->materialize_variant(l.ref.repo_id(), l.resolution.revision, n)});
    }
  }
  bool ok = true;
  nlohmann::json j;
  j["ref"] = ref;
  j["variants"] = nlohmann::json::array();
  if (!args.has("json")) std::printf("%s\n", what.c_str());
  for (const auto& [name, mv] : targets) {
    loader::TrustVerdict trust;
    lo.trust_root = mv.trust_root;
    auto problems = verify_folder(mv, name, identity, lo, &trust);
    ok &= problems.empty();
    j["variants"].push_back({{"name", name},
                             {"dir", mv.dir.string()},
                             {"ok", problems.empty()},
                             {"problems", problems},
                             {"trust", trust.to_json()}});
    if (!args.has("json")) {
      std::printf("  %s: %s\n", name.c_str(), problems.empty() ? "ok" : "FAILED");
      for (const auto& c : trust.checks) {
        std::printf("    %s: key %s%s: %s%s%s\n", c.file.c_str(),
                    c.key_id.empty() ? "?" : c.key_id.c_str(),
                    c.key_name.empty() ? "" : (" (" + c.key_name + ")").c_str(),
                    std::string(loader::signature_status_name(c.status)).c_str(),
                    c.detail.empty() ? "" : ", ", c.detail.c_str());
      }
      if (!trust.verdict.empty()) {
        std::printf("    trust: %s%s\n", trust.verdict.c_str(),
                    trust.signer.empty() ? "" : (" by key " + trust.signer).c_str());
      }
      for (const auto& p : problems) std::printf("    %s\n", p.c_str());
    }
  }
  j["ok"] = ok;
  if (args.has("json")) std::printf("%s\n", j.dump(2).c_str());
  return ok ? 0 : 1;
}

const CommandSpec& verify_spec() {
  static const CommandSpec s{
      .name = "verify",
      .summary = "re-hash a kernel's files against its metadata digest",
      .synopsis = "REF|PATH [--all-variants] [--device cpu|cuda[:N]] [--json]",
      .details =
          "Also checks exported symbols against the manifest and signatures against the "
          "trust policy; exit 1 on any mismatch.",
      .positionals = {{"REF", "org/name[@REV], or a local folder"}},
      .options = {flag("all-variants", "verify every variant, not only the selected one"),
                  opt("device", OptType::kText, "DEV", "the device the variant is selected for")
                      .with_default("cpu")
                      .eg("cuda"),
                  flag("json", "print the verdicts as JSON")},
      .run = cmd_verify};
  return s;
}

}  // namespace khub::cli
