#include "loader/digest.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "loader/safe_path.h"
#include "loader/signature.h"

namespace khub::loader {
namespace fs = std::filesystem;

namespace {

const EVP_MD* md_for(const std::string& algorithm) {
  if (algorithm == "sha256") return EVP_sha256();
  if (algorithm == "sha512") return EVP_sha512();
  fail(ErrorKind::kUnsupported, "digest algorithm '", algorithm, "' (expected sha256 or sha512)");
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string digest_of(const EVP_MD* md, const std::function<bool(EVP_MD_CTX*)>& feed) {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) {
    fail(ErrorKind::kInternal, "OpenSSL digest init failed");
  }
  if (!feed(ctx.get())) return "";
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}

struct FileStat {
  uint64_t size = 0, mtime_ns = 0, ino = 0, dev = 0;
  bool operator==(const FileStat&) const = default;
};

bool stat_file(const fs::path& p, FileStat* out) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return false;
  out->size = static_cast<uint64_t>(st.st_size);
  out->mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + st.st_mtim.tv_nsec;
  out->ino = st.st_ino;
  out->dev = st.st_dev;
  return true;
}

bool excluded(const std::string& rel) {
  if (rel == "metadata.json" || rel == "metadata.json.sigstore") return true;
  if (is_signature_path(rel)) return true;  // signatures/<key id>.sig cannot cover themselves
  if (rel.size() >= 4 && rel.compare(rel.size() - 4, 4, ".pyc") == 0) return true;
  return false;
}

fs::path receipt_path(const fs::path& variant_dir) {
  fs::path dir = receipts_dir();
  if (dir.empty()) return {};
  std::error_code ec;
  fs::path canon = fs::canonical(variant_dir, ec);
  if (ec) return {};
  return dir / (to_hex(sha256_bytes(canon.string())) + ".json");
}

bool receipt_matches(const fs::path& variant_dir, const std::vector<std::string>& files,
                     const std::string& metadata_hash) {
  fs::path rp = receipt_path(variant_dir);
  if (rp.empty()) return false;
  std::ifstream in(rp);
  if (!in) return false;
  nlohmann::json j;
  try {
    in >> j;
    if (j.at("metadata-sha256").get<std::string>() != metadata_hash) return false;
    const auto& recorded = j.at("files");
    if (recorded.size() != files.size()) return false;
    for (const std::string& f : files) {
      auto it = recorded.find(f);
      if (it == recorded.end()) return false;
      FileStat want{it->at(0).get<uint64_t>(), it->at(1).get<uint64_t>(), it->at(2).get<uint64_t>(),
                    it->at(3).get<uint64_t>()};
      FileStat have;
      if (!stat_file(variant_dir / f, &have) || !(have == want)) return false;
    }
  } catch (const std::exception&) {
    return false;  // a damaged receipt only costs a re-hash
  }
  return true;
}

void write_receipt(const fs::path& variant_dir, const std::vector<std::string>& files,
                   const std::string& metadata_hash) {
  fs::path rp = receipt_path(variant_dir);
  if (rp.empty()) return;
  nlohmann::json j;
  j["variant-dir"] = fs::canonical(variant_dir).string();
  j["metadata-sha256"] = metadata_hash;
  j["files"] = nlohmann::json::object();
  for (const std::string& f : files) {
    FileStat s;
    if (!stat_file(variant_dir / f, &s)) return;
    j["files"][f] = {s.size, s.mtime_ns, s.ino, s.dev};
  }
  std::error_code ec;
  fs::create_directories(rp.parent_path(), ec);
  fs::path tmp = rp;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << j.dump();
    if (!out) {
      log_debug("receipt not written (", tmp.string(), "): cannot write");
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, rp, ec);
  if (ec) {
    log_debug("receipt not written (", rp.string(), "): ", ec.message());
    fs::remove(tmp, ec);
  }
}

// Decodes a digest entry: base64 (HF) or hex of the right length.
bool decode_hash(const std::string& text, size_t nbytes, std::string* raw) {
  if (text.size() == nbytes * 2 && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c));
      })) {
    raw->clear();
    for (size_t i = 0; i < text.size(); i += 2) {
      raw->push_back(static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16)));
    }
    return true;
  }
  return base64_decode(text, raw) && raw->size() == nbytes;
}

}  // namespace

std::string sha256_bytes(std::string_view data) {
  return digest_of(EVP_sha256(), [&](EVP_MD_CTX* c) {
    return EVP_DigestUpdate(c, data.data(), data.size()) == 1;
  });
}

std::string sha_bytes(std::string_view data, const std::string& algorithm) {
  return digest_of(md_for(algorithm), [&](EVP_MD_CTX* c) {
    return EVP_DigestUpdate(c, data.data(), data.size()) == 1;
  });
}

std::string check_digest_entry(const DigestSpec& spec, const std::string& path,
                               std::string_view bytes, const std::string* bytes_sha256) {
  auto it = spec.files.find(path);
  if (it == spec.files.end()) return "\"" + path + "\" is not listed in metadata.json's digest";
  std::string want;
  if (!decode_hash(it->second, spec.algorithm == "sha512" ? 64 : 32, &want)) {
    return "malformed hash for \"" + path + "\"";
  }
  std::string have =
      bytes_sha256 && spec.algorithm == "sha256" ? *bytes_sha256 : sha_bytes(bytes, spec.algorithm);
  if (have != want) {
    return "hash mismatch for \"" + path + "\" as opened: expected " + spec.algorithm + " " +
           base64_encode(want) + ", the bytes read have " + base64_encode(have);
  }
  return "";
}

std::string sha_file(const fs::path& file, const std::string& algorithm) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, file.string(), ": cannot open for hashing");
  return digest_of(md_for(algorithm), [&](EVP_MD_CTX* c) {
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.gcount() > 0) EVP_DigestUpdate(c, buf.data(), static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) fail(ErrorKind::kIo, file.string(), ": read failed while hashing");
    return true;
  });
}

std::string to_hex(const std::string& raw) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string base64_encode(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool base64_decode(const std::string& text, std::string* raw) {
  if (text.empty() || text.size() % 4 != 0) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') {
      return false;
    }
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  *raw = std::move(out);
  return true;
}

std::vector<std::string> list_digest_files(const fs::path& variant_dir,
                                           const fs::path& trust_root) {
  std::error_code ec;
  if (!fs::is_directory(variant_dir, ec)) {
    fail(ErrorKind::kNotFound, variant_dir.string(), ": variant folder does not exist");
  }
  if (!trust_root.empty() && !path_is_within(variant_dir, trust_root)) {
    fail(ErrorKind::kVerification, variant_dir.string(), ": resolves outside ",
         trust_root.string());
  }
  std::vector<std::string> files;
  fs::recursive_directory_iterator it(variant_dir, fs::directory_options::none, ec), end;
  if (ec) fail(ErrorKind::kIo, variant_dir.string(), ": ", ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) fail(ErrorKind::kIo, variant_dir.string(), ": ", ec.message());
    const fs::directory_entry& e = *it;
    // lexically: fs::relative() would follow a symlink (a huggingface_hub cache snapshot links
    // every file into blobs/) and report the link target's path instead of the file's name.
    std::string rel = e.path().lexically_relative(variant_dir).generic_string();
    std::string why = check_relative_path(rel);
    if (!why.empty()) {
      fail(ErrorKind::kVerification, variant_dir.string(), ": hostile file name \"", rel,
           "\": ", why);
    }
    if (e.is_symlink() && e.is_directory()) {
      fail(ErrorKind::kVerification, variant_dir.string(), ": \"", rel,
           "\" is a symlink to a folder (not allowed inside a variant)");
    }
    if (e.is_directory()) {
      if (e.path().filename() == "__pycache__") it.disable_recursion_pending();
      continue;
    }
    if (!e.is_regular_file()) {
      fail(ErrorKind::kVerification, variant_dir.string(), ": \"", rel,
           "\" is not a regular file (", e.is_symlink() ? "dangling symlink" : "special file", ")");
    }
    if (e.is_symlink() && !trust_root.empty() && !path_is_within(e.path(), trust_root)) {
      fail(ErrorKind::kVerification, variant_dir.string(), ": \"", rel,
           "\" is a symlink that leads outside ", trust_root.string());
    }
    if (!excluded(rel)) files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string describe(const DigestProblem& p) {
  switch (p.kind) {
    case DigestProblem::kMissingFile:
      return "missing file \"" + p.path + "\" (listed in metadata.json digest)";
    case DigestProblem::kUnknownFile:
      return "unknown file \"" + p.path + "\" (not listed in metadata.json digest)";
    case DigestProblem::kHashMismatch:
      return "hash mismatch for \"" + p.path + "\": " + p.detail;
    case DigestProblem::kMalformedHash:
      return "malformed hash for \"" + p.path + "\": " + p.detail;
  }
  return "?";
}

std::vector<DigestProblem> check_variant_digest(const fs::path& variant_dir,
                                                const VariantMetadata& md,
                                                const fs::path& trust_root) {
  if (!md.digest) {
    fail(ErrorKind::kVerification, (variant_dir / "metadata.json").string(),
         ": has no \"digest\"; khub does not load unverifiable variants");
  }
  const DigestSpec& spec = *md.digest;
  size_t nbytes = spec.algorithm == "sha512" ? 64 : 32;
  std::vector<std::string> files = list_digest_files(variant_dir, trust_root);
  std::set<std::string> present(files.begin(), files.end());
  std::vector<DigestProblem> problems;
  for (const auto& [path, hash] : spec.files) {
    if (excluded(path)) continue;  // metadata.json cannot cover itself
    if (!present.count(path)) {
      problems.push_back({DigestProblem::kMissingFile, path, ""});
      continue;
    }
    std::string want;
    if (!decode_hash(hash, nbytes, &want)) {
      problems.push_back({DigestProblem::kMalformedHash, path,
                          "'" + hash + "' is not a base64 or hex " + spec.algorithm});
      continue;
    }
    std::string have = sha_file(variant_dir / path, spec.algorithm);
    if (have != want) {
      problems.push_back({DigestProblem::kHashMismatch, path,
                          "expected " + spec.algorithm + " " + base64_encode(want) + ", file has " +
                              base64_encode(have)});
    }
  }
  for (const std::string& f : files) {
    if (!spec.files.count(f)) problems.push_back({DigestProblem::kUnknownFile, f, ""});
  }
  return problems;
}

DigestSpec compute_variant_digest(const fs::path& variant_dir, const std::string& algorithm) {
  DigestSpec spec;
  spec.algorithm = algorithm;
  for (const std::string& f : list_digest_files(variant_dir)) {
    spec.files[f] = base64_encode(sha_file(variant_dir / f, algorithm));
  }
  return spec;
}

bool verify_variant(const fs::path& variant_dir, const VariantMetadata& md,
                    const std::string& metadata_bytes, const VerifyOptions& options) {
  std::string metadata_hash = to_hex(sha256_bytes(metadata_bytes));
  std::vector<std::string> files = list_digest_files(variant_dir, options.trust_root);
  if (options.use_receipt && md.digest && receipt_matches(variant_dir, files, metadata_hash)) {
    return true;
  }
  std::vector<DigestProblem> problems = check_variant_digest(variant_dir, md, options.trust_root);
  if (!problems.empty()) {
    std::string msg;
    for (const DigestProblem& p : problems) msg += "\n  " + describe(p);
    fail(ErrorKind::kVerification, variant_dir.string(), ": digest verification failed:", msg);
  }
  write_receipt(variant_dir, files, metadata_hash);
  return false;
}

fs::path receipts_dir() {
  if (std::optional<std::string> d = env::raw("KHUB_RECEIPTS_DIR")) return *d;
  fs::path cache = env::user_cache_dir();
  return cache.empty() ? cache : cache / "khub" / "receipts";
}

}  // namespace khub::loader
