// khub publish <built kernel dir> --hub DIR|http://HOST:PORT [--repo org/name] [--tag vX.Y.Z]
//              [--branch vN] [--sign KEY[,KEY...]] [--project DIR] [--json]
// --sign: each private key signs every variant of the new revision (loader/signature.h).
// --project: the kernel project whose README.md and bench/results/*.json go with the variants
// (default: the built dir itself when it is a kernel project; hub/store/publish.h).
// An http(s) hub is a `khub serve` (or compatible) hub: see cli/publish_http.h (needs HF_TOKEN).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/publish_http.h"
#include "hub/ref/hub_location.h"
#include "hub/store/publish.h"

namespace khub::cli {

int cmd_publish(const Args& args) {
  if (args.positionals().size() != 1 || !args.has("hub")) {
    std::fprintf(
        stderr,
        "usage: khub publish <built kernel dir> --hub DIR [--repo org/name] [--tag vX.Y.Z] "
        "[--branch vN] [--sign KEY[,KEY...]] [--project DIR] [--json]\n"
        "  adds the built variants to the local hub DIR as an immutable revision and moves "
        "the branch (default v<major>), the tag and main\n");
    return 2;
  }
  hub::PublishOptions o;
  o.repo_id = args.get_or("repo", "");
  o.tag = args.get_or("tag", "");
  o.branch = args.get_or("branch", "");
  o.docs_from = args.get_or("project", "");
  for (const std::string& k : split_list(args.get_or("sign", ""), ',')) o.sign_keys.push_back(k);
  hub::HubLocation where = hub::parse_hub_location(args.get("hub"));
  if (where.is_http()) {
    return publish_to_http_hub(args.positionals()[0], where.url, o, args.has("json"));
  }
  hub::PublishResult r = hub::publish_kernel(args.positionals()[0], where.directory, o);
  if (args.has("json")) {
    nlohmann::json j = {{"repo", r.repo_id},
                        {"revision", r.revision},
                        {"variants", r.variants},
                        {"refs-updated", r.refs_updated},
                        {"created", r.created},
                        {"unchanged", r.unchanged},
                        {"signatures", r.signatures},
                        {"dropped-signatures", r.dropped_signatures},
                        {"docs", r.docs}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::string refs;
  for (const auto& x : r.refs_updated) refs += (refs.empty() ? "" : ", ") + x;
  std::printf("%s %s@%s (%zu variants)%s%s\n",
              r.unchanged || (!r.created && r.refs_updated.empty())
                  ? "unchanged"
                  : (r.created ? "published" : "moved refs to"),
              r.repo_id.c_str(), r.revision.c_str(), r.variants.size(),
              refs.empty() ? "" : "; moved ", refs.c_str());
  for (const auto& sig : r.signatures) std::printf("  signed %s\n", sig.c_str());
  for (const auto& d : r.docs) std::printf("  with %s\n", d.c_str());
  if (r.dropped_signatures > 0) {
    std::printf(
        "  left out %d signature(s) of the base tree or the built folder: they name another "
        "revision (sign the new one with --sign or khub sign)\n",
        r.dropped_signatures);
  }
  return 0;
}

const CommandSpec& publish_spec() {
  static const CommandSpec s{
      .name = "publish",
      .summary = "add built variants to a local hub as an immutable revision",
      .synopsis =
          "DIR --hub DIR|URL [--repo org/name] [--tag vX.Y.Z] [--branch vN] [--sign KEY] "
          "[--project DIR] [--json]",
      .positionals = {{"DIR", "the built kernel project (after khub build)"}},
      .options =
          {opt("hub", OptType::kPath, "DIR|URL", "a local hub folder or a khub serve URL")
               .default_doc("required")
               .eg("/srv/hub"),
           opt("repo", OptType::kText, "ORG/NAME", "the repo to publish to")
               .default_doc("build.toml's repo-id, else khub-community/NAME")
               .eg("acme/rmsnorm"),
           opt("tag", OptType::kText, "vX.Y.Z", "the version tag of the revision").eg("v1.2.0"),
           opt("branch", OptType::kText, "vN", "the branch to move")
               .default_doc("vMAJOR of --tag")
               .eg("v1"),
           opt("sign", OptType::kList, "KEY[,KEY]", "private keys that sign every variant")
               .eg("~/.khub/acme.key"),
           opt("project", OptType::kPath, "DIR",
               "the kernel project whose README.md and bench/results/*.json ship with it")
               .default_doc("DIR itself when it is a kernel project")
               .eg("kernels/rmsnorm"),
           flag("json", "print the new revision as JSON")},
      .run = cmd_publish};
  return s;
}

}  // namespace khub::cli
