// The trust policy (docs/design.md §7; the file format in docs/kernel-hub.md §8): which keys are
// trusted to sign which repos, which keys are revoked, which revisions a repo is pinned to, and
// what happens to a variant that no trusted key signed. One decision, evaluate_trust(), made by
// the loader just before dlopen on the bytes it is about to load (variant_loader.h), identically
// for every source: the bundled hub, local hub folders, LOCAL_KERNELS, local paths, HTTP hubs and
// their cache.
//
//   [unsigned]
//   local = "warn"        # bundled hub, local hub folders, LOCAL_KERNELS, paths: refuse|warn|allow
//   remote = "refuse"     # HTTP hubs (khub serve, the Hugging Face Hub) and their cache
//   [[keys]]
//   name = "acme release key"
//   public-key = "ed25519:<base64>"
//   repos = ["acme/*", "khub-community/rmsnorm"]
//   [revoked]
//   keys = ["3f2a1b09c4d2e5f6"]            # key ids or public keys
//   [pins]
//   "acme/rmsnorm" = ["<40-hex revision>"]
//
// Layers, each optional, apply in order: the built-in default (unsigned: local warn, remote
// refuse; the khub-community release key) → the install's policy (<exe>/../share/khub/
// trust-policy.toml, written by scripts/publish_bundled_hub.sh with the bundled hub's build key)
// → the user's ($HF_HOME/khub/trust-policy.toml) → the project's (kernels.trust.toml beside the
// nearest kernels.lock or kernels.toml) → KHUB_TRUST_POLICY / --trust-policy FILE. Later layers
// override `unsigned` rules and a repo's pins; keys and revocations accumulate. --require-signed
// (KHUB_REQUIRE_SIGNED=1) refuses unsigned variants everywhere, whatever the files say.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "loader/signature.h"

namespace khub::loader {

// Where a variant came from, as far as the unsigned rule is concerned.
enum class TrustScope {
  kLocal,   // the bundled hub, local hub folders, LOCAL_KERNELS, local paths
  kRemote,  // an HTTP hub or the cache it fills (offline included)
};
std::string_view trust_scope_name(TrustScope scope);

enum class UnsignedRule { kRefuse, kWarn, kAllow };
std::string_view unsigned_rule_name(UnsignedRule rule);

struct TrustedKey {
  PublicKey key;
  std::string name;                // for reports ("" when the file gives none)
  std::vector<std::string> repos;  // "org/name", "org/*" or "*"
  std::string origin;              // the policy file (or "built-in") that listed it
  bool trusted_for(const std::string& repo) const;
};

struct TrustPolicy {
  UnsignedRule unsigned_local = UnsignedRule::kWarn;
  UnsignedRule unsigned_remote = UnsignedRule::kRefuse;
  std::vector<TrustedKey> keys;
  std::set<std::string> revoked;                      // key ids
  std::map<std::string, std::set<std::string>> pins;  // repo -> allowed revisions
  std::vector<std::string> layers;                    // the files applied, in order

  // The built-in default: unsigned refused for remote hubs, warned about locally; the
  // khub-community release key (keys/khub-community-release.pub) trusted for khub-community/*.
  static TrustPolicy builtin();
  // Applies a later layer on top of this one (see the header comment).
  void merge(const TrustPolicy& later);
  // --require-signed: unsigned variants are refused everywhere.
  void require_signed();
  UnsignedRule unsigned_rule(TrustScope scope) const;
  const TrustedKey* find_key(const std::string& key_id, const std::string& repo) const;
  nlohmann::json to_json() const;
};

// Parses a policy file's text. Unknown tables and keys are errors (a typo in a security setting
// must not silently mean the default). Throws Error(kFormat) naming `where`, the key and what was
// expected.
TrustPolicy parse_trust_policy(std::string_view toml_text, const std::string& where);
// Reads and parses a policy file: Error(kNotFound) when it does not exist.
TrustPolicy read_trust_policy(const std::filesystem::path& file);

// What the CLI's --trust-policy FILE and --require-signed set for the process (before the first
// load); they add to KHUB_TRUST_POLICY / KHUB_REQUIRE_SIGNED.
struct TrustOverrides {
  std::vector<std::filesystem::path> files;
  bool require_signed = false;
};
void set_trust_overrides(TrustOverrides overrides);
// The policy loads use: every layer above, read once per process (reset_trust_policy() drops the
// cached one, for tests). Throws the parse error of a broken layer: a broken policy file is never
// skipped.
std::shared_ptr<const TrustPolicy> active_trust_policy();
void reset_trust_policy();
// The layer files that exist for this process, in order (for `khub info` and errors).
std::vector<std::filesystem::path> trust_policy_files();

// One variant, as the loader is about to load it.
struct TrustSubject {
  std::string repo;      // "" for a bare local path
  std::string revision;  // the immutable revision id; "local" for unversioned sources
  std::string variant;
  TrustScope scope = TrustScope::kLocal;
  std::string source;  // "local hub /srv/hub", "LOCAL_KERNELS", ...
  // The statement the variant's files make now (revision = `revision`), hashed from the bytes
  // the loader holds.
  Statement actual;
  // Signature files found in the variant: (path inside the variant, contents).
  std::vector<std::pair<std::string, std::string>> signatures;
  // Key ids a kernels.lock recorded for this variant; empty when not a locked load.
  std::vector<std::string> locked_signers;
};

struct SignatureCheck {
  enum Status { kTrusted, kUntrusted, kRevoked, kInvalid, kMismatch } status;
  std::string file;    // "signatures/<id>.sig"
  std::string key_id;  // "" when the file did not parse
  std::string key_name;
  std::string detail;  // why it is not trusted
};
std::string_view signature_status_name(SignatureCheck::Status status);

struct TrustVerdict {
  bool allowed = false;
  bool warning = false;  // allowed, but the user must see why (unsigned, local)
  std::string verdict;   // "signed", "unsigned-allowed", "unsigned-warned", "refused"
  std::string signer;    // key id of the first trusted signature, "" when none
  std::string signer_name;
  std::vector<std::string> signers;  // every trusted key id
  std::vector<SignatureCheck> checks;
  std::string reason;  // one sentence: why loaded or refused (names repo, revision, variant,
                       // file and key where they matter)
  nlohmann::json to_json() const;
};

// The decision. Never throws for bad signature files (they become checks); the loader turns a
// refusal into Error(kVerification).
TrustVerdict evaluate_trust(const TrustPolicy& policy, const TrustSubject& subject);

// The signature files of a variant folder: (relative path, contents), sorted. Symlinks and
// non-regular files under signatures/ are reported as such by the digest listing, not here.
std::vector<std::pair<std::string, std::string>> read_signature_files(
    const std::filesystem::path& variant_dir);

}  // namespace khub::loader
