#include "hub/store/content_hash.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace khub::hub::net {

struct Hasher::State {
  EVP_MD_CTX* ctx = nullptr;
  ~State() {
    if (ctx) EVP_MD_CTX_free(ctx);
  }
};

Hasher::Hasher(HashAlgo algo) : state_(std::make_unique<State>()) {
  const EVP_MD* md = algo == HashAlgo::kSha1     ? EVP_sha1()
                     : algo == HashAlgo::kSha256 ? EVP_sha256()
                                                 : EVP_sha512();
  state_->ctx = EVP_MD_CTX_new();
  KHUB_ICHECK(state_->ctx != nullptr && EVP_DigestInit_ex(state_->ctx, md, nullptr) == 1,
              "OpenSSL digest init failed");
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, size_t n) {
  KHUB_ICHECK(state_ && state_->ctx, "hasher used after finish");
  if (n) KHUB_ICHECK(EVP_DigestUpdate(state_->ctx, data, n) == 1, "OpenSSL digest update failed");
}

std::string Hasher::finish_raw() {
  KHUB_ICHECK(state_ && state_->ctx, "hasher used after finish");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  KHUB_ICHECK(EVP_DigestFinal_ex(state_->ctx, out, &len) == 1, "OpenSSL digest final failed");
  state_.reset();
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Hasher::finish_hex() { return to_hex(finish_raw()); }

std::string base64_encode(std::string_view raw) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    uint32_t v = (uint8_t(raw[i]) << 16) | (uint8_t(raw[i + 1]) << 8) | uint8_t(raw[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == raw.size()) {
    uint32_t v = uint8_t(raw[i]) << 16;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == raw.size()) {
    uint32_t v = (uint8_t(raw[i]) << 16) | (uint8_t(raw[i + 1]) << 8);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string_view body = text;
  while (!body.empty() && body.back() == '=') body.remove_suffix(1);
  if (text.size() - body.size() > 2 || body.size() % 4 == 1) {
    fail(ErrorKind::kFormat, "not valid base64: '", text, "'");
  }
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : body) {
    int v = val(c);
    if (v < 0) fail(ErrorKind::kFormat, "not valid base64: '", text, "'");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Hasher h(HashAlgo::kSha256);
  h.update(data);
  return h.finish_hex();
}

std::string file_hash_hex(const std::filesystem::path& path, HashAlgo algo) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(ErrorKind::kIo, "cannot open ", path.string(), " to hash it");
  Hasher h(algo);
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.update(buf.data(), n);
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) fail(ErrorKind::kIo, "read error while hashing ", path.string());
  return h.finish_hex();
}

std::string git_blob_header(uint64_t size) { return "blob " + std::to_string(size) + '\0'; }

std::string git_blob_id(std::string_view content) {
  Hasher h(HashAlgo::kSha1);
  h.update(git_blob_header(content.size()));
  h.update(content);
  return h.finish_hex();
}

namespace {

std::string git_file_blob_id(const std::filesystem::path& path, uint64_t size) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(ErrorKind::kIo, "cannot open ", path.string(), " to hash it");
  Hasher h(HashAlgo::kSha1);
  h.update(git_blob_header(size));
  std::vector<char> buf(1 << 20);
  size_t n, total = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    h.update(buf.data(), n);
    total += n;
  }
  std::fclose(f);
  if (total != size) fail(ErrorKind::kIo, path.string(), " changed while it was hashed");
  return h.finish_hex();
}

}  // namespace

std::string git_tree_id(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  struct Entry {
    std::string name, sort_key, mode, raw_id;
  };
  std::vector<Entry> entries;
  for (const auto& de : fs::directory_iterator(dir)) {
    std::string name = de.path().filename().string();
    struct stat st;
    if (::lstat(de.path().c_str(), &st) != 0) fail(ErrorKind::kIo, "cannot stat ", de.path());
    if (S_ISDIR(st.st_mode)) {
      entries.push_back({name, name + "/", "40000", from_hex(git_tree_id(de.path()))});
    } else if (S_ISREG(st.st_mode)) {
      std::string mode = (st.st_mode & S_IXUSR) ? "100755" : "100644";
      entries.push_back({name, name, mode, from_hex(git_file_blob_id(de.path(), st.st_size))});
    } else {
      fail(ErrorKind::kFormat, de.path().string(),
           " is neither a file nor a directory (symlinks and special files are not allowed in a "
           "hub revision)");
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.sort_key < b.sort_key; });
  std::string body;
  for (const auto& e : entries) {
    body += e.mode + ' ' + e.name + '\0';
    body += e.raw_id;
  }
  Hasher h(HashAlgo::kSha1);
  h.update("tree " + std::to_string(body.size()) + '\0');
  h.update(body);
  return h.finish_hex();
}

std::string_view hash_algo_name(HashAlgo algo) {
  switch (algo) {
    case HashAlgo::kSha1:
      return "sha1";
    case HashAlgo::kSha256:
      return "sha256";
    case HashAlgo::kSha512:
      return "sha512";
  }
  return "?";
}

HashAlgo parse_hash_algo(std::string_view name) {
  if (name == "sha256" || name == "SHA256" || name == "sha-256") return HashAlgo::kSha256;
  if (name == "sha512" || name == "SHA512" || name == "sha-512") return HashAlgo::kSha512;
  if (name == "sha1" || name == "SHA1") return HashAlgo::kSha1;
  fail(ErrorKind::kFormat, "unknown hash algorithm '", name, "' (expected sha256 or sha512)");
}

namespace {
size_t raw_len(HashAlgo a) { return a == HashAlgo::kSha1 ? 20 : a == HashAlgo::kSha256 ? 32 : 64; }
}  // namespace

Digest parse_digest(std::string_view text, HashAlgo default_algo) {
  std::string_view body = text;
  HashAlgo algo = default_algo;
  bool prefixed = false;
  for (std::string_view p : {"sha256", "sha512", "sha1"}) {
    if (body.size() > p.size() && body.substr(0, p.size()) == p &&
        (body[p.size()] == '-' || body[p.size()] == ':')) {
      algo = parse_hash_algo(p);
      body.remove_prefix(p.size() + 1);
      prefixed = true;
      break;
    }
  }
  Digest d{algo, {}};
  if (!prefixed) {
    if (is_hex(body, 40)) d.algo = HashAlgo::kSha1;
    if (is_hex(body, 64)) d.algo = HashAlgo::kSha256;
    if (is_hex(body, 128)) d.algo = HashAlgo::kSha512;
  }
  if (is_hex(body, raw_len(d.algo) * 2)) {
    d.raw = from_hex(body);
  } else {
    try {
      d.raw = base64_decode(body);
    } catch (const Error&) {
      d.raw.clear();
    }
  }
  if (d.raw.size() != raw_len(d.algo)) {
    fail(ErrorKind::kFormat, "'", text, "' is not a ", hash_algo_name(d.algo),
         " digest (expected hex, base64, or '<algo>-<hex>')");
  }
  return d;
}

}  // namespace khub::hub::net
