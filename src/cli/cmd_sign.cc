// khub sign org/name[@REV] --hub DIR --key KEY[,KEY...] [--variant V[,V...]] [--json]
// khub sign PATH --key KEY --repo org/name [--revision REV] [--json]
// Signs variants (docs/kernel-hub.md §8): in a local hub, every variant (or the named ones) of the
// revision REV resolves to; for a local folder (a LOCAL_KERNELS folder, a build folder, one variant
// folder), every variant folder, stating repo org/name and revision REV (default: the folder's
// content address, hub/source/revision_id.h, which is what a load of the folder checks).
// Each key writes build/<variant>/signatures/<key id>.sig; the files are re-checked against their
// digest first, so khub never vouches for files that changed.
#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/kernel_cli.h"
#include "core/error.h"
#include "hub/ref/hub_location.h"
#include "hub/ref/kernel_ref.h"
#include "hub/source/local_hub.h"
#include "hub/source/local_kernels.h"
#include "hub/source/revision_id.h"
#include "hub/store/publish.h"
#include "loader/digest.h"
#include "loader/signature.h"

namespace khub::cli {

int cmd_sign(const Args& args) {
  if (args.positionals().size() != 1 || !args.has("key")) {
    std::fprintf(stderr,
                 "usage: khub sign org/name[@REV] --hub DIR --key KEY[,KEY...] [--variant V,...]\n"
                 "       khub sign PATH --key KEY[,KEY...] --repo org/name [--revision REV]\n");
    return 2;
  }
  const std::string target = args.positionals()[0];
  std::vector<std::string> keys = split_list(args.get("key"), ',');
  std::vector<std::string> variants = split_list(args.get_or("variant", ""), ',');
  std::vector<std::string> written;
  std::string repo, revision;
  if (is_path_ref(target)) {
    if (!args.has("repo")) {
      fail(ErrorKind::kInvalidArgument,
           "signing a folder needs --repo org/name (the statement "
           "names the repo the kernel is for)");
    }
    repo = args.get("repo");
    hub::split_repo_id(repo);
    revision = args.has("revision") ? args.get("revision") : hub::local_folder_revision(target);
    for (const auto& k : keys) {
      loader::SigningKey key = loader::SigningKey::read(k);
      for (const auto& [name, dir] : hub::local_variant_folders(target)) {
        if (!variants.empty() &&
            std::find(variants.begin(), variants.end(), name) == variants.end())
          continue;
        auto problems = loader::check_variant_digest(dir, loader::read_metadata(dir), target);
        if (!problems.empty()) {
          fail(ErrorKind::kVerification, dir.string(), ": refusing to sign, ",
               loader::describe(problems.front()));
        }
        written.push_back(loader::write_signature(
                              dir, key, loader::statement_for_folder(dir, repo, revision, name))
                              .string());
      }
    }
  } else {
    if (!args.has("hub"))
      fail(ErrorKind::kInvalidArgument, "khub sign ", target, " needs --hub DIR");
    hub::HubLocation where = hub::parse_hub_location(args.get("hub"));
    if (where.is_http()) {
      fail(ErrorKind::kUnsupported,
           "khub sign signs a local hub directory; sign before serving it "
           "or publish with --sign");
    }
    hub::KernelRef ref = hub::parse_kernel_ref(target);
    repo = ref.repo_id();
    hub::HubSources sources;
    sources.add(std::make_shared<hub::LocalHubSource>(where.directory));
    revision = sources.resolve(ref).resolution.revision;
    for (const auto& k : keys) {
      for (auto& f : hub::sign_revision(where.directory, repo, revision, k, variants)) {
        written.push_back(f);
      }
    }
  }
  if (written.empty()) fail(ErrorKind::kNotFound, target, ": no variant to sign");
  if (args.has("json")) {
    nlohmann::json j = {{"repo", repo}, {"revision", revision}, {"signatures", written}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("signed %s@%s:\n", repo.c_str(), revision.c_str());
  for (const auto& w : written) std::printf("  %s\n", w.c_str());
  return 0;
}

const CommandSpec& sign_spec() {
  static const CommandSpec s{
      .name = "sign",
      .summary = "sign a published revision's variants (or a local folder's) with a key",
      .synopsis = "org/name[@REV] --hub DIR --key KEY | PATH --key KEY --repo org/name  [options]",
      .positionals = {{"REF|PATH", "a revision in --hub, or a local folder of variants"}},
      .options = {opt("key", OptType::kList, "KEY[,KEY]", "private keys to sign with")
                      .default_doc("required")
                      .eg("~/.khub/acme.key"),
                  opt("hub", OptType::kPath, "DIR", "the local hub holding REF").eg("/srv/hub"),
                  opt("variant", OptType::kList, "V[,V]", "sign only these variants")
                      .default_doc("every variant")
                      .eg("khub1-cpu-x86_64-linux"),
                  opt("repo", OptType::kText, "ORG/NAME", "the repo a PATH's variants belong to")
                      .eg("acme/rmsnorm"),
                  opt("revision", OptType::kText, "REV", "the revision a PATH's signatures state")
                      .default_doc("the content hash of PATH's files (its local revision id)")
                      .eg("v1.2.0"),
                  flag("json", "print the signatures as JSON")},
      .run = cmd_sign};
  return s;
}

}  // namespace khub::cli
