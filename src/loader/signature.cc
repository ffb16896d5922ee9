#include "loader/signature.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/printable.h"
#include "loader/digest.h"
#include "loader/safe_path.h"
#include "loader/variant.h"

namespace khub::loader {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKeyPrefix = "ed25519:";
constexpr std::string_view kSecretHeader = "khub-ed25519-secret-key v1";
constexpr std::string_view kStatementHeader = "khub-kernel-statement v1";
constexpr std::string_view kSignatureHeader = "khub-kernel-signature v1";

void ensure_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) fail(ErrorKind::kInternal, "libsodium failed to initialize");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool is_lower_hex(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Splits text into lines ending in '\n'; the text must end with one and hold no '\r' or NUL.
std::vector<std::string_view> split_lines(std::string_view text, const std::string& where) {
  if (text.empty() || text.back() != '\n') {
    fail(ErrorKind::kFormat, where, ": must end with a newline");
  }
  for (char c : text) {
    if (c == '\r' || c == '\0') {
      fail(ErrorKind::kFormat, where, ": contains a carriage return or NUL byte");
    }
  }
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// "key: value" with exactly this key; returns the value.
std::string_view field(std::string_view line, std::string_view key, const std::string& where,
                       size_t line_no) {
  if (line.size() < key.size() + 2 || line.substr(0, key.size()) != key ||
      line.substr(key.size(), 2) != ": ") {
    fail(ErrorKind::kFormat, where, ": line ", line_no, " must be \"", key, ": ...\", found \"",
         printable_excerpt(line), "\"");
  }
  return line.substr(key.size() + 2);
}

std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

void write_atomic(const fs::path& path, const std::string& content, mode_t mode, bool exclusive) {
  if (exclusive) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
      fail(errno == EEXIST ? ErrorKind::kInvalidArgument : ErrorKind::kIo, path.string(),
           errno == EEXIST ? ": already exists (khub never overwrites a key)"
                           : ": cannot create: " + std::string(std::strerror(errno)));
    }
    ::fchmod(fd, mode);  // the umask must not widen or narrow what we ask for
    bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ok &= ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(path.c_str());
      fail(ErrorKind::kIo, path.string(), ": write failed");
    }
    return;
  }
  fs::path tmp = path.parent_path() / (".tmp-" + path.filename().string() + "-" + unique_suffix());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail(ErrorKind::kIo, tmp.string(), ": cannot create: ", std::strerror(errno));
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok &= ::fchmod(fd, mode) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail(ErrorKind::kIo, path.string(), ": write failed");
  }
}

}  // namespace

std::string PublicKey::text() const { return std::string(kKeyPrefix) + base64_encode(raw); }

std::string key_id_of(std::string_view raw_public_key) {
  return to_hex(sha256_bytes(std::string(raw_public_key))).substr(0, 16);
}

PublicKey parse_public_key(std::string_view text, const std::string& where) {
  std::string_view t = trim(text);
  if (t.substr(0, kKeyPrefix.size()) != kKeyPrefix) {
    fail(ErrorKind::kFormat, where, ": a public key is \"ed25519:<base64 of 32 bytes>\"");
  }
  PublicKey k;
  if (!base64_decode(std::string(t.substr(kKeyPrefix.size())), &k.raw) ||
      k.raw.size() != crypto_sign_PUBLICKEYBYTES) {
    fail(ErrorKind::kFormat, where,
         ": the public key is not base64 of 32 bytes (\"ed25519:<base64 of 32 bytes>\")");
  }
  k.id = key_id_of(k.raw);
  return k;
}

SigningKey SigningKey::generate() {
  ensure_sodium();
  SigningKey k;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, k.secret_);
  k.public_.raw.assign(reinterpret_cast<char*>(pk), sizeof pk);
  k.public_.id = key_id_of(k.public_.raw);
  return k;
}

SigningKey SigningKey::read(const fs::path& file) {
  ensure_sodium();
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(ErrorKind::kNotFound, file.string(),
         ": cannot open the private key: ", std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::kInvalidArgument, file.string(), ": a private key must be a regular file");
  }
  if (st.st_mode & 077) {
    ::close(fd);
    fail(ErrorKind::kInvalidArgument, file.string(),
         ": the private key is readable by others (mode ", std::to_string(st.st_mode & 0777),
         " octal ", (st.st_mode >> 6) & 7, (st.st_mode >> 3) & 7, st.st_mode & 7,
         "); run chmod 600 on it");
  }
  std::string text(static_cast<size_t>(std::min<off_t>(st.st_size, 4096)), '\0');
  ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n < 0) fail(ErrorKind::kIo, file.string(), ": read failed");
  text.resize(static_cast<size_t>(n));
  // Errors below never quote the file: it holds a secret.
  auto bad = [&]() {
    sodium_memzero(text.data(), text.size());
    fail(ErrorKind::kFormat, file.string(), ": not a khub private key (expected \"",
         std::string(kSecretHeader), "\" and a \"seed: <base64 of 32 bytes>\" line)");
  };
  std::istringstream in(text);
  std::string header, seed_line;
  if (!std::getline(in, header) || header != kSecretHeader || !std::getline(in, seed_line) ||
      seed_line.rfind("seed: ", 0) != 0) {
    bad();
  }
  std::string seed;
  if (!base64_decode(seed_line.substr(6), &seed) || seed.size() != crypto_sign_SEEDBYTES) bad();
  SigningKey k;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, k.secret_, reinterpret_cast<const unsigned char*>(seed.data()));
  sodium_memzero(seed.data(), seed.size());
  sodium_memzero(seed_line.data(), seed_line.size());
  sodium_memzero(text.data(), text.size());
  k.public_.raw.assign(reinterpret_cast<char*>(pk), sizeof pk);
  k.public_.id = key_id_of(k.public_.raw);
  return k;
}

SigningKey::~SigningKey() { sodium_memzero(secret_, sizeof secret_); }

SigningKey::SigningKey(SigningKey&& other) noexcept : public_(std::move(other.public_)) {
  std::memcpy(secret_, other.secret_, sizeof secret_);
  sodium_memzero(other.secret_, sizeof other.secret_);
}

std::string SigningKey::sign(std::string_view message) const {
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), secret_);
  return std::string(reinterpret_cast<char*>(sig), sizeof sig);
}

void SigningKey::write(const fs::path& file) const {
  fs::path pub = file;
  pub += ".pub";
  std::error_code ec;
  if (fs::exists(pub, ec)) {
    fail(ErrorKind::kInvalidArgument, pub.string(),
         ": already exists (khub never overwrites a key)");
  }
  // crypto_sign's secret key is seed || public key: the file keeps the seed only.
  std::string seed(reinterpret_cast<const char*>(secret_), crypto_sign_SEEDBYTES);
  std::string text = std::string(kSecretHeader) + "\nseed: " + base64_encode(seed) + "\n";
  sodium_memzero(seed.data(), seed.size());
  write_atomic(file, text, 0600, true);
  sodium_memzero(text.data(), text.size());
  write_atomic(pub, public_.text() + "\n", 0644, true);
}

bool verify_signature(const PublicKey& key, std::string_view signature, std::string_view message) {
  ensure_sodium();
  if (signature.size() != crypto_sign_BYTES || key.raw.size() != crypto_sign_PUBLICKEYBYTES) {
    return false;
  }
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(),
                                     reinterpret_cast<const unsigned char*>(key.raw.data())) == 0;
}

std::string Statement::text() const {
  std::string s = std::string(kStatementHeader) + "\nrepo: " + repo + "\nrevision: " + revision +
                  "\nvariant: " + variant + "\nabi: " + std::to_string(abi) + "\n";
  for (const StatementFile& f : files)
    s += "file: " + f.algorithm + " " + f.hex + " " + f.path + "\n";
  return s;
}

Statement parse_statement(std::string_view text, const std::string& where) {
  std::vector<std::string_view> lines = split_lines(text, where);
  if (lines.size() < 6 || lines[0] != kStatementHeader) {
    fail(ErrorKind::kFormat, where, ": a statement starts with \"", std::string(kStatementHeader),
         "\" and has repo, revision, variant, abi and at least one file line");
  }
  Statement st;
  st.repo = std::string(field(lines[1], "repo", where, 2));
  size_t slash = st.repo.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == st.repo.size() ||
      !check_relative_path(st.repo).empty() || st.repo.find('/', slash + 1) != std::string::npos) {
    fail(ErrorKind::kFormat, where, ": line 2: repo \"", printable_excerpt(st.repo),
         "\" is not org/name");
  }
  st.revision = std::string(field(lines[2], "revision", where, 3));
  if (st.revision.empty() || !check_path_component(st.revision).empty() ||
      st.revision.find(' ') != std::string::npos) {
    fail(ErrorKind::kFormat, where, ": line 3: revision \"", printable_excerpt(st.revision),
         "\" is not a revision id");
  }
  st.variant = std::string(field(lines[3], "variant", where, 4));
  if (!check_path_component(st.variant).empty() || st.variant.find(' ') != std::string::npos) {
    fail(ErrorKind::kFormat, where, ": line 4: variant \"", printable_excerpt(st.variant),
         "\" is not a variant folder name");
  }
  std::string_view abi = field(lines[4], "abi", where, 5);
  if (abi.empty() || abi.size() > 4 || !std::all_of(abi.begin(), abi.end(), ::isdigit) ||
      (abi.size() > 1 && abi[0] == '0')) {
    fail(ErrorKind::kFormat, where, ": line 5: abi \"", printable_excerpt(abi),
         "\" is not a decimal number");
  }
  st.abi = std::stoi(std::string(abi));
  for (size_t i = 5; i < lines.size(); ++i) {
    std::string_view rest = field(lines[i], "file", where, i + 1);
    size_t a = rest.find(' ');
    size_t b = a == std::string_view::npos ? a : rest.find(' ', a + 1);
    if (b == std::string_view::npos) {
      fail(ErrorKind::kFormat, where, ": line ", i + 1,
           ": expected \"file: <sha256|sha512> <hex> <path>\"");
    }
    StatementFile f{std::string(rest.substr(0, a)), std::string(rest.substr(a + 1, b - a - 1)),
                    std::string(rest.substr(b + 1))};
    size_t hex_len = f.algorithm == "sha256" ? 64 : f.algorithm == "sha512" ? 128 : 0;
    if (hex_len == 0 || !is_lower_hex(f.hex, hex_len)) {
      fail(ErrorKind::kFormat, where, ": line ", i + 1, ": \"", printable_excerpt(f.algorithm, 16),
           " ", printable_excerpt(f.hex, 16),
           "\" is not a lower-case sha256 (64) or sha512 (128) hex digest");
    }
    if (std::string why = check_relative_path(f.path); !why.empty()) {
      fail(ErrorKind::kFormat, where, ": line ", i + 1, ": file \"", printable_excerpt(f.path),
           "\": ", why);
    }
    if (!st.files.empty() && !(st.files.back().path < f.path)) {
      fail(ErrorKind::kFormat, where, ": line ", i + 1, ": file \"", printable_excerpt(f.path),
           "\" is out of order or repeated (files are sorted bytewise, each once)");
    }
    st.files.push_back(std::move(f));
  }
  return st;
}

std::string signature_file_text(const SignatureFile& sig) {
  return std::string(kSignatureHeader) + "\nkey: " + sig.key.id +
         "\npublic-key: " + sig.key.text() + "\nsignature: " + base64_encode(sig.signature) +
         "\n\n" + sig.statement;
}

SignatureFile parse_signature_file(std::string_view text, const std::string& where) {
  size_t blank = text.find("\n\n");
  if (blank == std::string_view::npos) {
    fail(ErrorKind::kFormat, where,
         ": a signature file is a header, an empty line and the statement");
  }
  std::string_view head = text.substr(0, blank + 1);
  std::vector<std::string_view> lines = split_lines(head, where);
  if (lines.size() != 4 || lines[0] != kSignatureHeader) {
    fail(ErrorKind::kFormat, where, ": the header is \"", std::string(kSignatureHeader),
         "\", key, public-key and signature lines");
  }
  SignatureFile sig;
  std::string id(field(lines[1], "key", where, 2));
  sig.key = parse_public_key(field(lines[2], "public-key", where, 3), where + " line 3");
  if (id != sig.key.id) {
    fail(ErrorKind::kFormat, where, ": line 2 names key ", printable_excerpt(id, 32),
         " but the public key's id is ", sig.key.id);
  }
  if (!base64_decode(std::string(field(lines[3], "signature", where, 4)), &sig.signature) ||
      sig.signature.size() != crypto_sign_BYTES) {
    fail(ErrorKind::kFormat, where, ": line 4: the signature is not base64 of 64 bytes");
  }
  sig.statement = std::string(text.substr(blank + 2));
  return sig;
}

std::string sign_statement(const SigningKey& key, const Statement& statement) {
  SignatureFile sig;
  sig.key = key.public_key();
  sig.statement = statement.text();
  sig.signature = key.sign(sig.statement);
  return signature_file_text(sig);
}

Statement statement_for_folder(const fs::path& variant_dir, const std::string& repo,
                               const std::string& revision, const std::string& variant) {
  Statement st;
  st.repo = repo;
  st.revision = revision;
  st.variant = variant;
  auto parsed = parse_variant_name(variant);
  if (!parsed || parsed->family != VariantFamily::kKhub) {
    fail(ErrorKind::kInvalidArgument, variant, ": only khub<ABI> variants are signed");
  }
  st.abi = parsed->abi_major;
  std::vector<std::string> files = list_digest_files(variant_dir);
  files.push_back("metadata.json");
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    st.files.push_back({"sha256", to_hex(sha_file(variant_dir / f, "sha256")), f});
  }
  return st;
}

fs::path write_signature(const fs::path& variant_dir, const SigningKey& key,
                         const Statement& statement) {
  fs::path dir = variant_dir / kSignaturesFolder;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(ErrorKind::kIo, dir.string(), ": ", ec.message());
  fs::path file = dir / (key.public_key().id + kSignatureSuffix);
  std::string text = sign_statement(key, statement);
  {
    // ed25519 signatures are deterministic: re-signing unchanged files writes nothing.
    std::ifstream in(file, std::ios::binary);
    std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in && old == text) return file;
  }
  write_atomic(file, text, 0444, false);
  return file;
}

bool is_signature_path(std::string_view rel) {
  std::string_view prefix = "signatures/";
  if (rel.substr(0, prefix.size()) != prefix) return false;
  std::string_view name = rel.substr(prefix.size());
  std::string_view suffix = kSignatureSuffix;
  return name.size() > suffix.size() && name.find('/') == std::string_view::npos &&
         name.substr(name.size() - suffix.size()) == suffix;
}

}  // namespace khub::loader
