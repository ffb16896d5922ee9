#include "loader/variant_loader.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/logging.h"
#include "loader/digest.h"
#include "loader/elf_symbols.h"
#include "loader/library_image.h"
#include "loader/safe_path.h"
#include "loader/variant.h"

namespace khub::loader {
namespace fs = std::filesystem;

fs::path find_kernel_library(const fs::path& variant_dir, const VariantMetadata& md) {
  if (!md.library.empty()) {
    fs::path lib = variant_dir / md.library;
    std::error_code ec;
    if (!fs::is_regular_file(lib, ec)) {
      fail(ErrorKind::kNotFound, variant_dir.string(), ": the kernel library \"", md.library,
           "\" named by metadata.json is missing");
    }
    return lib;
  }
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(variant_dir, ec)) {
    std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".so" || ext == ".dylib" || ext == ".dll")) {
      found.push_back(e.path());
    }
  }
  if (found.empty()) {
    fail(ErrorKind::kNotFound, variant_dir.string(), ": no kernel library (*.so) in this variant");
  }
  if (found.size() > 1) {
    fail(ErrorKind::kFormat, variant_dir.string(),
         ": several libraries and no \"library\" key in metadata.json to say which one to load");
  }
  return found.front();
}

// library_sha256: sha256_bytes(*library_bytes) when the caller computed it already.
TrustSubject trust_subject(const KernelIdentity& identity, const std::string& metadata_bytes,
                           const LoadOptions& options, const std::string_view* library_bytes,
                           const fs::path& library, const std::string* library_sha256 = nullptr) {
  const fs::path& dir = identity.dir;
  TrustSubject subject;
  subject.repo = identity.repo;
  subject.revision = identity.revision.empty() ? "local" : identity.revision;
  subject.variant = identity.variant.empty() ? dir.filename().string() : identity.variant;
  subject.scope = options.scope;
  subject.source = identity.source;
  subject.locked_signers = options.locked_signers;
  subject.signatures = read_signature_files(dir);
  if (!subject.signatures.empty()) {
    // The statement these files make: metadata.json as parsed, the library as opened.
    subject.actual.repo = subject.repo;
    subject.actual.revision = subject.revision;
    subject.actual.variant = subject.variant;
    auto parsed = parse_variant_name(subject.variant);
    subject.actual.abi = parsed ? parsed->abi_major : 0;
    std::string lib_rel = library.empty() ? "" : library.lexically_relative(dir).generic_string();
    std::vector<std::string> files = list_digest_files(dir, options.trust_root);
    files.push_back("metadata.json");
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      std::string hex =
          f == "metadata.json" ? to_hex(sha256_bytes(metadata_bytes))
          : (library_bytes && f == lib_rel)
              ? to_hex(library_sha256 ? *library_sha256 : sha256_bytes(*library_bytes))
              : to_hex(sha_file(dir / f, "sha256"));
      subject.actual.files.push_back({"sha256", hex, f});
    }
  }
  return subject;
}

TrustVerdict check_variant_trust(const KernelIdentity& identity, const std::string& metadata_bytes,
                                 const LoadOptions& options, const std::string_view* library_bytes,
                                 const fs::path& library) {
  auto policy = options.policy ? options.policy : active_trust_policy();
  return evaluate_trust(*policy,
                        trust_subject(identity, metadata_bytes, options, library_bytes, library));
}

TrustVerdict recheck_trust(const Kernel& kernel, const KernelIdentity& identity,
                           const LoadOptions& options) {
  TrustSubject subject = kernel.trust_subject();
  subject.scope = options.scope;
  subject.source = identity.source;
  subject.locked_signers = options.locked_signers;
  auto policy = options.policy ? options.policy : active_trust_policy();
  return evaluate_trust(*policy, subject);
}

std::shared_ptr<const Kernel> load_kernel_variant(KernelIdentity identity,
                                                  const LoadOptions& options) {
  const fs::path dir = identity.dir;
  const std::string where = identity.label();
  try {
    std::string raw;
    VariantMetadata md = read_metadata(dir, &raw);
    if (options.verify) {
      VerifyOptions vo;
      vo.use_receipt = options.use_receipt;
      vo.trust_root = options.trust_root.empty() ? dir : options.trust_root;
      verify_variant(dir, md, raw, vo);
    }
    if (md.provenance.dirty.value_or(false)) {
      log_warn(where, ": built from a source tree with uncommitted changes (provenance dirty)");
    }
    const fs::path root = options.trust_root.empty() ? dir : options.trust_root;
    fs::path lib = find_kernel_library(dir, md);
    // From here on, the library is these bytes: what is hashed is what is loaded.
    LibraryImage image = read_library_image(lib, root);
    // One SHA-256 of the image serves the digest check and the trust statement.
    const std::string_view bytes = image.bytes();
    const std::string image_sha256 = sha256_bytes(bytes);
    if (md.digest) {
      std::string rel = lib.lexically_relative(dir).generic_string();
      if (std::string why = check_digest_entry(*md.digest, rel, bytes, &image_sha256);
          !why.empty()) {
        fail(ErrorKind::kVerification, lib.string(), ": ", why);
      }
    } else if (options.verify) {
      fail(ErrorKind::kVerification, (dir / "metadata.json").string(),
           ": has no \"digest\"; khub does not load unverifiable variants");
    }
    if (md.manifest.is_null()) {
      fail(ErrorKind::kFormat, (dir / "metadata.json").string(),
           ": no \"manifest\" (khub variants record the library's manifest)");
    }
    std::set<std::string> expected =
        manifest_json_symbols(md.manifest, (dir / "metadata.json").string());
    expected.insert(KHUB_KERNEL_ENTRY_SYMBOL);
    std::set<std::string> exported = elf_exported_symbols_in_memory(bytes, lib.string());
    if (exported != expected) {
      std::string extra, missing;
      for (const std::string& s : exported) {
        if (!expected.count(s)) extra += (extra.empty() ? "" : ", ") + s;
      }
      for (const std::string& s : expected) {
        if (!exported.count(s)) missing += (missing.empty() ? "" : ", ") + s;
      }
      fail(ErrorKind::kVerification, lib.string(),
           ": exported symbols differ from the manifest (build with -fvisibility=hidden and an "
           "export list)",
           extra.empty() ? "" : "; exports symbols the manifest does not list: " + extra,
           missing.empty() ? "" : "; does not export: " + missing);
    }

    // The one trust decision of every source, on the bytes about to be loaded.
    TrustSubject subject = trust_subject(identity, raw, options, &bytes, lib, &image_sha256);
    auto policy = options.policy ? options.policy : active_trust_policy();
    TrustVerdict trust = evaluate_trust(*policy, subject);
    if (!trust.allowed) fail(ErrorKind::kVerification, trust.reason);
    if (trust.warning) log_warn(trust.reason);
    if (options.after_checks) options.after_checks(lib);

    SharedLibrary library = SharedLibrary::from_image(image, lib);
    auto entry = reinterpret_cast<khub_manifest_fn>(library.symbol(KHUB_KERNEL_ENTRY_SYMBOL));
    if (!entry) fail(ErrorKind::kVerification, lib.string(), ": no ", KHUB_KERNEL_ENTRY_SYMBOL);
    ManifestInfo manifest = validate_manifest(entry(), lib.string());
    if (manifest.kernel_name != md.name) {
      fail(ErrorKind::kVerification, lib.string(), ": manifest kernel_name '", manifest.kernel_name,
           "' differs from metadata.json name '", md.name, "'");
    }
    if (manifest.backend != backend_kind_name(md.backend)) {
      fail(ErrorKind::kVerification, lib.string(), ": manifest backend '", manifest.backend,
           "' differs from metadata.json backend '", backend_kind_name(md.backend), "'");
    }
    nlohmann::json actual = manifest_to_json(manifest);
    if (actual != md.manifest) {
      nlohmann::json patch = nlohmann::json::diff(md.manifest, actual);
      std::string where_diff = patch.empty() ? "/" : patch[0].value("path", "/");
      nlohmann::json::json_pointer ptr(where_diff);
      auto show = [&](const nlohmann::json& doc) {
        return doc.contains(ptr) ? doc.at(ptr).dump() : std::string("nothing");
      };
      fail(ErrorKind::kVerification, lib.string(),
           ": the library's manifest differs from metadata.json's: at ", where_diff,
           " metadata.json has ", show(md.manifest), ", the library has ", show(actual));
    }
    std::vector<khub_kernel_fn> fns;
    for (const FunctionInfo& f : manifest.functions) {
      auto fn = reinterpret_cast<khub_kernel_fn>(library.symbol(f.symbol));
      if (!fn)
        fail(ErrorKind::kVerification, lib.string(), ": symbol ", f.symbol, " does not resolve");
      fns.push_back(fn);
    }
    return std::make_shared<Kernel>(std::move(identity), std::move(md), std::move(library),
                                    std::move(manifest), std::move(fns), std::move(trust),
                                    std::move(subject));
  } catch (const Error& e) {
    throw Error(e.kind(), "cannot load " + where + ": " + e.what());
  }
}

}  // namespace khub::loader
