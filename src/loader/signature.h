// Signed kernels (docs/design.md §7; formats in docs/kernel-hub.md §8): ed25519 (libsodium) over a
// canonical statement of one revision of one variant of one repo —
//
//   khub-kernel-statement v1
//   repo: khub-community/rmsnorm
//   revision: 3f2a1b09c4d2e5f60718293a4b5c6d7e8f901234
//   variant: khub1-cpu-x86_64-linux
//   abi: 1
//   file: sha256 <64 hex> metadata.json
//   file: sha256 <64 hex> librmsnorm.so          (every file of the variant, sorted bytewise)
//
// — kept beside the variant as build/<variant>/signatures/<key id>.sig (one file per signer, so
// several keys sign one revision). A signature file is a header naming the key, an empty line and
// the statement exactly as signed, so a verifier reports what a signature was made for (another
// revision, variant, repo, file) instead of only "bad signature".
//
// Keys: a private key file holds "khub-ed25519-secret-key v1" and the base64 seed; a public key is
// "ed25519:<base64 of 32 bytes>"; a key id is the first 16 hex digits of SHA-256 of the raw public
// key. Private key files are created 0600 with O_EXCL and their contents never printed.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace khub::loader {

inline constexpr const char* kSignaturesFolder = "signatures";
inline constexpr const char* kSignatureSuffix = ".sig";

struct PublicKey {
  std::string raw;  // 32 bytes
  std::string id;   // 16 lower-case hex digits
  // "ed25519:<base64>"
  std::string text() const;
};

// Parses "ed25519:<base64 of 32 bytes>" (surrounding whitespace ignored). Throws Error(kFormat)
// naming `where` and what was expected.
PublicKey parse_public_key(std::string_view text, const std::string& where);
// The key id of a raw 32-byte public key.
std::string key_id_of(std::string_view raw_public_key);

// A private key in memory; the seed is wiped when the object dies.
class SigningKey {
 public:
  // A fresh key from libsodium's CSPRNG.
  static SigningKey generate();
  // Reads a private key file. Refuses (kInvalidArgument) a file readable by group or others, and
  // (kFormat) anything but the format above; never echoes the file's contents.
  static SigningKey read(const std::filesystem::path& file);
  ~SigningKey();
  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&&) = delete;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  const PublicKey& public_key() const { return public_; }
  // The detached ed25519 signature (64 bytes) of `message`.
  std::string sign(std::string_view message) const;
  // Writes the private key to `file` (created 0600, never overwritten: kInvalidArgument when it
  // exists) and the public key to `file` + ".pub".
  void write(const std::filesystem::path& file) const;

 private:
  SigningKey() = default;
  unsigned char secret_[64] = {};  // libsodium's seed || public key
  PublicKey public_;
};

// Whether `signature` (64 bytes) is a valid ed25519 signature of `message` by `key`.
bool verify_signature(const PublicKey& key, std::string_view signature, std::string_view message);

struct StatementFile {
  std::string algorithm;  // "sha256" / "sha512"
  std::string hex;        // lower-case
  std::string path;       // relative POSIX path inside the variant
  bool operator==(const StatementFile&) const = default;
};

struct Statement {
  std::string repo;
  std::string revision;
  std::string variant;
  int abi = 0;
  std::vector<StatementFile> files;  // sorted by path, no duplicates
  bool operator==(const Statement&) const = default;

  // The canonical text (what is signed).
  std::string text() const;
};

// Parses the canonical text, refusing anything that text() would not produce (unknown or
// out-of-order lines, unsorted or duplicate files, hostile paths, upper-case hex, CR, trailing
// bytes). Throws Error(kFormat) naming `where`, the line and what was expected.
Statement parse_statement(std::string_view text, const std::string& where);

struct SignatureFile {
  PublicKey key;
  std::string signature;  // 64 raw bytes
  std::string statement;  // the signed bytes, verbatim
};

// "khub-kernel-signature v1\nkey: <id>\npublic-key: ed25519:...\nsignature: <base64>\n\n<stmt>"
std::string signature_file_text(const SignatureFile& sig);
// Parses a signature file (the statement is kept verbatim; parse it with parse_statement). The key
// line must match the public key's id. Throws Error(kFormat) naming `where`.
SignatureFile parse_signature_file(std::string_view text, const std::string& where);

// Signs `statement` with `key`: the signature file's text.
std::string sign_statement(const SigningKey& key, const Statement& statement);

// The statement of a variant folder as it is on disk: every file of list_digest_files() plus
// metadata.json, hashed with sha256.
Statement statement_for_folder(const std::filesystem::path& variant_dir, const std::string& repo,
                               const std::string& revision, const std::string& variant);

// Writes <variant_dir>/signatures/<key id>.sig for `statement` (atomically; replaces an older
// signature by the same key; an identical one is left alone). Returns the file.
std::filesystem::path write_signature(const std::filesystem::path& variant_dir,
                                      const SigningKey& key, const Statement& statement);

// Whether a path inside a variant is a signature file (signatures/<name>.sig): the digest and the
// revision id leave them out, since a signature cannot cover itself.
bool is_signature_path(std::string_view relative_path_in_variant);

}  // namespace khub::loader
