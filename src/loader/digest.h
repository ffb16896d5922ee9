// File digests and variant verification (docs/design.md §7; HF kernels' digest scheme, research
// §3.5): metadata.json lists a hash for every file of the variant; before the first dlopen of a
// variant khub re-hashes the files and requires an exact match — no missing file, no unlisted file,
// no mismatch. A receipt keyed by the variant's canonical path records what was verified (the
// metadata.json hash and each file's size, mtime, inode), so warm loads cost a directory listing
// and a few stats instead of re-hashing megabytes of kernels.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "loader/metadata.h"

namespace khub::loader {

// SHA-256 / SHA-512 of bytes or a file (raw digest bytes).
std::string sha256_bytes(std::string_view data);
std::string sha_file(const std::filesystem::path& file, const std::string& algorithm);
std::string sha_bytes(std::string_view data, const std::string& algorithm);
std::string to_hex(const std::string& raw);
std::string base64_encode(const std::string& raw);
// Decodes standard base64 (with padding); returns false on malformed input.
bool base64_decode(const std::string& text, std::string* raw);

// Files of a variant that the digest covers: every regular file under `variant_dir` (symlinks to
// files are followed) except the top-level metadata.json and metadata.json.sigstore,
// signatures/*.sig (signature.h), __pycache__ folders and *.pyc files (HF's rule). Relative POSIX
// paths, sorted. Throws Error(kVerification) for a symlinked folder, a special file, or a file
// whose real location is outside `trust_root` (when not empty).
std::vector<std::string> list_digest_files(const std::filesystem::path& variant_dir,
                                           const std::filesystem::path& trust_root = {});

struct DigestProblem {
  enum Kind { kMissingFile, kUnknownFile, kHashMismatch, kMalformedHash } kind;
  std::string path;
  std::string detail;
};
std::string describe(const DigestProblem& p);

// Re-hashes the variant and compares with md.digest. Returns the problems found (empty = ok).
// Throws Error(kVerification) when md has no digest.
std::vector<DigestProblem> check_variant_digest(const std::filesystem::path& variant_dir,
                                                const VariantMetadata& md,
                                                const std::filesystem::path& trust_root = {});

// The digest a builder writes: hashes every file of list_digest_files() with `algorithm`.
DigestSpec compute_variant_digest(const std::filesystem::path& variant_dir,
                                  const std::string& algorithm = "sha256");

// Whether `bytes` are the file `path` that `spec` lists; "" when they are, else why not.
// bytes_sha256, when given, is sha256_bytes(bytes) computed already (used when spec is sha256).
std::string check_digest_entry(const DigestSpec& spec, const std::string& path,
                               std::string_view bytes, const std::string* bytes_sha256 = nullptr);

struct VerifyOptions {
  bool use_receipt = true;           // skip re-hashing when a valid receipt exists
  std::filesystem::path trust_root;  // files must resolve inside it (empty: no check)
};

// Verifies a variant: digest present and matching, then writes a receipt. `metadata_bytes` is the
// exact metadata.json text (its hash keys the receipt). Throws Error(kVerification) listing every
// problem. Returns true when a receipt made re-hashing unnecessary.
bool verify_variant(const std::filesystem::path& variant_dir, const VariantMetadata& md,
                    const std::string& metadata_bytes, const VerifyOptions& options = {});

// Where receipts live: $KHUB_RECEIPTS_DIR (set to "" disables receipts), else
// $XDG_CACHE_HOME/khub/receipts, else $HOME/.cache/khub/receipts. Empty when disabled.
std::filesystem::path receipts_dir();

}  // namespace khub::loader
