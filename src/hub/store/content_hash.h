// Content hashes used by the hub: SHA-256 (LFS object ids, metadata.json digests, lockfiles),
// SHA-512 (metadata.json digests may use it), git blob SHA-1 (the object id of small files on the
// Hugging Face Hub) and git tree SHA-1 (the revision id of a file tree). Streaming, so a download
// is hashed while it is written instead of being read back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "hub/ref/hex.h"

namespace khub::hub::net {

enum class HashAlgo { kSha1, kSha256, kSha512 };

// A streaming digest over OpenSSL's EVP interface.
class Hasher {
 public:
  explicit Hasher(HashAlgo algo);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string finish_raw();  // raw digest bytes; the hasher cannot be used afterwards
  std::string finish_hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string base64_encode(std::string_view raw);
// Throws kFormat on characters outside the standard alphabet or bad padding.
std::string base64_decode(std::string_view text);

std::string sha256_hex(std::string_view data);
// Hashes a whole file (kIo when it cannot be read).
std::string file_hash_hex(const std::filesystem::path& path, HashAlgo algo);

// git's object id of a blob: sha1("blob <size>\0" + content).
std::string git_blob_id(std::string_view content);
std::string git_blob_header(uint64_t size);
// git's id of a directory tree (files 100644/100755 by the executable bit, sub-trees 40000,
// entries in git's order). Symlinks and special files are refused with kFormat: a hub revision
// holds plain files only.
std::string git_tree_id(const std::filesystem::path& dir);

// A digest as written in metadata.json, a lockfile or a tree listing: "sha256-<hex>",
// "sha256:<hex>", bare hex (64 → sha256, 128 → sha512, 40 → sha1) or base64 of the raw bytes
// (with `default_algo`). Returns the algorithm and the raw digest bytes; kFormat otherwise.
struct Digest {
  HashAlgo algo;
  std::string raw;
  std::string hex() const { return to_hex(raw); }
};
Digest parse_digest(std::string_view text, HashAlgo default_algo = HashAlgo::kSha256);
std::string_view hash_algo_name(HashAlgo algo);
// "sha256" / "sha512" / "sha1"; kFormat otherwise.
HashAlgo parse_hash_algo(std::string_view name);

}  // namespace khub::hub::net
