// khub info REF [--device cpu|cuda[:N]] [--json]: how REF resolves, every variant with
// accepted/rejected and the reason, the selected variant's metadata and manifest. REF may be a
// local folder ("./kernels/rmsnorm/build"). Loads no code; the selected variant's signatures are
// checked against the trust policy (which fetches the variant from an HTTP hub), and the signer
// and verdict are shown.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/kernel_cli.h"
#include "core/error.h"
#include "hub/get_kernel.h"
#include "hub/source/local_kernels.h"
#include "hub/source/revision_id.h"
#include "loader/metadata.h"

namespace khub::cli {
namespace {

void print_manifest(const nlohmann::json& m) {
  if (!m.is_object()) {
    std::printf("  manifest: none\n");
    return;
  }
  std::printf("  layers:\n");
  for (const auto& l : m.value("layers", nlohmann::json::array())) {
    std::printf(
        "    %-18s forward %s%s%s%s\n", l.value("name", "").c_str(), l.value("forward", "").c_str(),
        l["backward"].is_string() ? (", backward " + l["backward"].get<std::string>()).c_str() : "",
        l.value("has-backward", false) ? " [has-backward]" : "",
        l.value("can-capture", false) ? " [can-capture]" : "");
  }
  std::printf("  functions:\n");
  for (const auto& f : m.value("functions", nlohmann::json::array())) {
    std::string args;
    for (const auto& a : f.value("args", nlohmann::json::array())) {
      args += (args.empty() ? "" : ", ") + a.value("name", "") + ": " + a.value("role", "") + " " +
              a.value("dtypes", "");
      if (a.value("ndim", -1) >= 0) args += " [" + std::to_string(a.value("ndim", -1)) + "d]";
    }
    for (const auto& a : f.value("attrs", nlohmann::json::array())) {
      args += "; " + a.value("name", "") + ": " + a.value("kind", "");
      if (!a["default"].is_null()) args += " = " + a["default"].dump();
    }
    std::string flags;
    for (const auto& x : f.value("flags", nlohmann::json::array()))
      flags += " [" + x.get<std::string>() + "]";
    std::printf("    %s(%s) -> %s, dtypes %s%s\n", f.value("name", "").c_str(), args.c_str(),
                f.value("symbol", "").c_str(), f.value("dtypes", "").c_str(), flags.c_str());
  }
}

}  // namespace

int cmd_info(const Args& args) {
  if (args.positionals().size() != 1) {
    std::fprintf(stderr, "usage: khub info REF|PATH [--device cpu|cuda[:N]] [--json]\n%s\n",
                 hub::kernel_ref_grammar());
    return 2;
  }
  const std::string ref = args.positionals()[0];
  hub::KernelOptions opts = options_for_device(args.get("device"));
  nlohmann::json j;
  loader::Selection sel;
  std::optional<loader::VariantMetadata> md;
  std::optional<loader::TrustVerdict> trust;
  std::string header;
  if (is_path_ref(ref)) {
    sel = hub::select_local_variant(ref, opts);
    j["ref"] = ref;
    j["source"] = "path";
    j["revision"] = hub::local_folder_revision(ref);
    j["system"] = sel.system.describe();
    j["variants"] = sel.to_json();
    if (sel.chosen()) {
      std::filesystem::path dir = hub::local_variant_folders(ref).at(sel.chosen()->name);
      md = loader::read_metadata(dir);
      trust = hub::local_variant_trust(dir, ref, opts);
    }
    header = ref + " (local folder)";
  } else {
    hub::KernelLookup l = hub::lookup_kernel(ref, opts, true);
    sel = l.selection;
    j = l.to_json();
    if (sel.chosen()) {
      std::string path = "build/" + sel.chosen()->name + "/metadata.json";
      md = loader::parse_metadata(
          l.repo_source->read_file(l.ref.repo_id(), l.resolution.revision, path), path);
      trust = hub::lookup_trust(l, opts);
    }
    header = l.summary();
    for (const auto& n : l.resolution.notes) header += "\nnote: " + n;
  }
  j["selected"] = sel.chosen() ? nlohmann::json(sel.chosen()->name) : nlohmann::json(nullptr);
  j["metadata"] =
      md ? nlohmann::json::parse(loader::metadata_to_json(*md).dump()) : nlohmann::json(nullptr);
  j["manifest"] = md ? md->manifest : nlohmann::json(nullptr);
  j["trust"] = trust ? trust->to_json() : nlohmann::json(nullptr);
  if (args.has("json")) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s\nsystem: %s\nvariants:\n%s", header.c_str(), sel.system.describe().c_str(),
              sel.trace().c_str());
  if (!md) {
    std::printf("selected: none (no variant fits this machine)\n");
    return 0;
  }
  std::printf("selected: %s\n  name %s, version %d, license %s, id %s, backend %s",
              sel.chosen()->name.c_str(), md->name.c_str(), md->version, md->license.c_str(),
              md->id.c_str(), std::string(loader::backend_kind_name(md->backend)).c_str());
  std::string archs;
  for (const auto& a : md->archs) archs += (archs.empty() ? "" : ",") + a;
  if (!archs.empty()) std::printf(" [%s]", archs.c_str());
  std::printf("\n  provenance: %s, commit %s, dirty %s\n",
              md->provenance.builder.empty() ? "unknown builder" : md->provenance.builder.c_str(),
              md->provenance.commit.empty() ? "unknown" : md->provenance.commit.c_str(),
              md->provenance.dirty ? (*md->provenance.dirty ? "yes" : "no") : "unknown");
  if (trust) {
    std::printf("  trust: %s%s%s\n    %s\n", trust->verdict.c_str(),
                trust->signer.empty() ? "" : (", signer " + trust->signer).c_str(),
                trust->signer_name.empty() ? "" : (" (" + trust->signer_name + ")").c_str(),
                trust->reason.c_str());
  }
  print_manifest(md->manifest);
  return 0;
}

const CommandSpec& info_spec() {
  static const CommandSpec s{
      .name = "info",
      .summary = "how a kernel reference resolves; variants, metadata, manifest",
      .synopsis = "REF|PATH [--device cpu|cuda[:N]] [--json]",
      .positionals = {{"REF", "org/name[@REV][:layer], or a local folder (./kernels/x/build)"}},
      .options = {opt("device", OptType::kText, "DEV", "the device variants are selected for")
                      .with_default("cpu")
                      .eg("cuda:0"),
                  flag("json", "print everything as JSON")},
      .run = cmd_info};
  return s;
}

}  // namespace khub::cli
