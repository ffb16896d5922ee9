#include "loader/trust_policy.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include <toml++/toml.h>

#include "core/env.h"
#include "core/error.h"
#include "core/printable.h"
#include "core/program_dir.h"
#include "core/toml_ascii.h"
#include "loader/safe_path.h"

namespace khub::loader {
namespace fs = std::filesystem;

namespace {

// The public half of the khub-community release key (keys/khub-community-release.pub; a test
// checks the two agree). Its private half is not in the repository: see docs/kernel-hub.md §8.
constexpr const char* kReleaseKey = "ed25519:Dv9hkcnLmADRzuhD0DpWhTQmVgAX1NsLF2qflIjfnzI=";

UnsignedRule parse_rule(const toml::node& n, const std::string& where, const std::string& key) {
  auto s = n.value<std::string>();
  if (s == "refuse") return UnsignedRule::kRefuse;
  if (s == "warn") return UnsignedRule::kWarn;
  if (s == "allow") return UnsignedRule::kAllow;
  fail(ErrorKind::kFormat, where, ": unsigned.", key, " must be \"refuse\", \"warn\" or \"allow\"");
}

std::vector<std::string> string_array(const toml::node& n, const std::string& where,
                                      const std::string& key) {
  const toml::array* a = n.as_array();
  if (!a) fail(ErrorKind::kFormat, where, ": ", key, " must be an array of strings");
  std::vector<std::string> out;
  for (const toml::node& e : *a) {
    auto s = e.value<std::string>();
    if (!s) fail(ErrorKind::kFormat, where, ": ", key, " must be an array of strings");
    out.push_back(*s);
  }
  return out;
}

void check_repo_pattern(const std::string& p, const std::string& where) {
  if (p == "*") return;
  size_t slash = p.find('/');
  bool ok = slash != std::string::npos && slash > 0 && slash + 1 < p.size() &&
            p.find('/', slash + 1) == std::string::npos;
  std::string org = ok ? p.substr(0, slash) : "";
  std::string name = ok ? p.substr(slash + 1) : "";
  ok = ok && check_path_component(org).empty() && org.find('*') == std::string::npos &&
       (name == "*" || (check_path_component(name).empty() && name.find('*') == std::string::npos));
  if (!ok) {
    fail(ErrorKind::kFormat, where, ": repo pattern \"", p,
         "\" must be \"org/name\", \"org/*\" or \"*\"");
  }
}

// kernels.trust.toml beside the nearest kernels.lock / kernels.toml above the working directory.
fs::path project_policy() {
  std::error_code ec;
  fs::path dir = fs::current_path(ec);
  if (ec) return {};
  for (; !dir.empty(); dir = dir.parent_path()) {
    if (fs::exists(dir / "kernels.lock", ec) || fs::exists(dir / "kernels.toml", ec)) {
      return dir / "kernels.trust.toml";
    }
    if (dir == dir.parent_path()) break;
  }
  return {};
}

struct State {
  std::mutex mu;
  TrustOverrides overrides;
  std::shared_ptr<const TrustPolicy> cached;
};
State& state() {
  static State* s = new State;
  return *s;
}

bool require_signed_now() {
  return state().overrides.require_signed || env::flag("KHUB_REQUIRE_SIGNED", false);
}

std::string short_rev(const std::string& rev) { return rev.size() > 12 ? rev.substr(0, 12) : rev; }

// The first difference between what a signature states and what the variant is.
std::string statement_difference(const Statement& signed_st, const Statement& actual,
                                 bool compare_revision) {
  if (signed_st.repo != actual.repo && !actual.repo.empty()) {
    return "it was made for repo " + printable_excerpt(signed_st.repo) + ", not " + actual.repo;
  }
  if (signed_st.variant != actual.variant) {
    return "it was made for variant " + printable_excerpt(signed_st.variant) + ", not " +
           actual.variant;
  }
  if (signed_st.abi != actual.abi) {
    return "it was made for ABI " + std::to_string(signed_st.abi) + ", not " +
           std::to_string(actual.abi);
  }
  std::map<std::string, const StatementFile*> want, have;
  for (const auto& f : signed_st.files) want[f.path] = &f;
  for (const auto& f : actual.files) have[f.path] = &f;
  // Every difference, the files other than metadata.json first (a changed library is the news;
  // its metadata.json changes with it when the digest was fixed up).
  std::vector<std::string> diffs, metadata_diffs;
  for (const auto& [path, f] : have) {
    auto& out = path == "metadata.json" ? metadata_diffs : diffs;
    auto it = want.find(path);
    if (it == want.end()) {
      out.push_back("file " + path + " is not covered by the signature");
    } else if (it->second->algorithm != f->algorithm || it->second->hex != f->hex) {
      out.push_back("file " + path + " changed after signing (signed " + it->second->algorithm +
                    " " + it->second->hex.substr(0, 16) + "..., the file has " + f->algorithm +
                    " " + f->hex.substr(0, 16) + "...)");
    }
  }
  for (const auto& [path, f] : want) {
    if (!have.count(path)) {
      diffs.push_back("file " + printable_excerpt(path) + " was signed but is missing");
    }
  }
  diffs.insert(diffs.end(), metadata_diffs.begin(), metadata_diffs.end());
  // The revision last: a local folder's revision is its content address, so a changed file also
  // changes it, and the file is the news.
  if (compare_revision && signed_st.revision != actual.revision) {
    diffs.push_back("it was made for revision " + printable_excerpt(signed_st.revision) + ", not " +
                    actual.revision);
  }
  std::string all;
  for (const auto& d : diffs) all += (all.empty() ? "" : "; ") + d;
  return all;
}

}  // namespace

std::string_view trust_scope_name(TrustScope s) {
  return s == TrustScope::kLocal ? "local" : "remote";
}

std::string_view unsigned_rule_name(UnsignedRule r) {
  switch (r) {
    case UnsignedRule::kRefuse:
      return "refuse";
    case UnsignedRule::kWarn:
      return "warn";
    case UnsignedRule::kAllow:
      return "allow";
  }
  return "?";
}

std::string_view signature_status_name(SignatureCheck::Status s) {
  switch (s) {
    case SignatureCheck::kTrusted:
      return "trusted";
    case SignatureCheck::kUntrusted:
      return "untrusted";
    case SignatureCheck::kRevoked:
      return "revoked";
    case SignatureCheck::kInvalid:
      return "invalid";
    case SignatureCheck::kMismatch:
      return "mismatch";
  }
  return "?";
}

bool TrustedKey::trusted_for(const std::string& repo) const {
  std::string org = repo.substr(0, repo.find('/'));
  for (const std::string& p : repos) {
    if (p == "*" || p == repo || (!repo.empty() && p == org + "/*")) return true;
  }
  return false;
}

TrustPolicy TrustPolicy::builtin() {
  TrustPolicy p;
  p.keys.push_back({parse_public_key(kReleaseKey, "the built-in policy"),
                    "khub-community release key",
                    {"khub-community/*"},
                    "built-in"});
  p.layers.push_back("built-in");
  return p;
}

void TrustPolicy::merge(const TrustPolicy& later) {
  unsigned_local = later.unsigned_local;
  unsigned_remote = later.unsigned_remote;
  keys.insert(keys.end(), later.keys.begin(), later.keys.end());
  revoked.insert(later.revoked.begin(), later.revoked.end());
  for (const auto& [repo, revs] : later.pins) pins[repo] = revs;
  layers.insert(layers.end(), later.layers.begin(), later.layers.end());
}

void TrustPolicy::require_signed() {
  unsigned_local = UnsignedRule::kRefuse;
  unsigned_remote = UnsignedRule::kRefuse;
  layers.push_back("--require-signed");
}

UnsignedRule TrustPolicy::unsigned_rule(TrustScope scope) const {
  return scope == TrustScope::kLocal ? unsigned_local : unsigned_remote;
}

const TrustedKey* TrustPolicy::find_key(const std::string& key_id, const std::string& repo) const {
  for (const TrustedKey& k : keys) {
    if (k.key.id == key_id && k.trusted_for(repo)) return &k;
  }
  return nullptr;
}

nlohmann::json TrustPolicy::to_json() const {
  nlohmann::json j;
  j["unsigned"] = {{"local", unsigned_rule_name(unsigned_local)},
                   {"remote", unsigned_rule_name(unsigned_remote)}};
  j["keys"] = nlohmann::json::array();
  for (const auto& k : keys) {
    j["keys"].push_back({{"id", k.key.id},
                         {"name", k.name},
                         {"public-key", k.key.text()},
                         {"repos", k.repos},
                         {"origin", k.origin}});
  }
  j["revoked"] = revoked;
  j["pins"] = nlohmann::json::object();
  for (const auto& [repo, revs] : pins) j["pins"][repo] = revs;
  j["layers"] = layers;
  return j;
}

TrustPolicy parse_trust_policy(std::string_view text, const std::string& where) {
  toml::table t;
  try {
    t = toml::parse(toml_ascii(text, where), where);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << e.description() << " (line " << e.source().begin.line << ")";
    fail(ErrorKind::kFormat, where, ": ", os.str());
  }
  TrustPolicy p;
  p.unsigned_local = UnsignedRule::kWarn;
  p.unsigned_remote = UnsignedRule::kRefuse;
  p.layers.push_back(where);
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (key == "unsigned") {
      const toml::table* u = v.as_table();
      if (!u) fail(ErrorKind::kFormat, where, ": [unsigned] must be a table");
      for (const auto& [uk, uv] : *u) {
        std::string name(uk.str());
        if (name == "local") {
          p.unsigned_local = parse_rule(uv, where, name);
        } else if (name == "remote") {
          p.unsigned_remote = parse_rule(uv, where, name);
        } else if (name == "require-signed") {
          auto b = uv.value<bool>();
          if (!b)
            fail(ErrorKind::kFormat, where, ": unsigned.require-signed must be true or false");
          if (*b) p.unsigned_local = p.unsigned_remote = UnsignedRule::kRefuse;
        } else {
          fail(ErrorKind::kFormat, where, ": unknown key unsigned.", name,
               " (expected local, remote, require-signed)");
        }
      }
    } else if (key == "keys") {
      const toml::array* a = v.as_array();
      if (!a) fail(ErrorKind::kFormat, where, ": keys must be an array of tables ([[keys]])");
      size_t i = 0;
      for (const toml::node& e : *a) {
        std::string at = where + ": keys[" + std::to_string(i++) + "]";
        const toml::table* kt = e.as_table();
        if (!kt) fail(ErrorKind::kFormat, at, " must be a table");
        TrustedKey tk;
        tk.origin = where;
        bool has_key = false, has_repos = false;
        for (const auto& [fk, fv] : *kt) {
          std::string f(fk.str());
          if (f == "public-key") {
            auto s = fv.value<std::string>();
            if (!s) fail(ErrorKind::kFormat, at, ".public-key must be a string");
            tk.key = parse_public_key(*s, at + ".public-key");
            has_key = true;
          } else if (f == "name") {
            auto s = fv.value<std::string>();
            if (!s) fail(ErrorKind::kFormat, at, ".name must be a string");
            tk.name = *s;
          } else if (f == "repos") {
            tk.repos = string_array(fv, at, "repos");
            for (const auto& r : tk.repos) check_repo_pattern(r, at + ".repos");
            has_repos = true;
          } else {
            fail(ErrorKind::kFormat, at, ": unknown key ", f,
                 " (expected public-key, name, repos)");
          }
        }
        if (!has_key) fail(ErrorKind::kFormat, at, " has no public-key");
        if (!has_repos || tk.repos.empty()) {
          fail(ErrorKind::kFormat, at,
               " has no repos (say which repos the key may sign: \"org/*\")");
        }
        p.keys.push_back(std::move(tk));
      }
    } else if (key == "revoked") {
      const toml::table* r = v.as_table();
      if (!r) fail(ErrorKind::kFormat, where, ": [revoked] must be a table");
      for (const auto& [rk, rv] : *r) {
        if (rk.str() != "keys") {
          fail(ErrorKind::kFormat, where, ": unknown key revoked.", std::string(rk.str()),
               " (expected keys)");
        }
        for (const std::string& s : string_array(rv, where, "revoked.keys")) {
          if (s.rfind("ed25519:", 0) == 0) {
            p.revoked.insert(parse_public_key(s, where + ": revoked.keys").id);
          } else if (s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
                       return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                     })) {
            p.revoked.insert(s);
          } else {
            fail(ErrorKind::kFormat, where, ": revoked key \"", s.substr(0, 64),
                 "\" is neither a key id (16 lower-case hex) nor \"ed25519:<base64>\"");
          }
        }
      }
    } else if (key == "pins") {
      const toml::table* pt = v.as_table();
      if (!pt) fail(ErrorKind::kFormat, where, ": [pins] must be a table");
      for (const auto& [repo, revs] : *pt) {
        std::string r(repo.str());
        check_repo_pattern(r, where + ": pins");
        if (r.find('*') != std::string::npos) {
          fail(ErrorKind::kFormat, where, ": pins.\"", r, "\": pin one repo (org/name)");
        }
        std::set<std::string> set;
        for (const std::string& rev : string_array(revs, where, "pins.\"" + r + "\"")) {
          if (!check_path_component(rev).empty() || rev.empty()) {
            fail(ErrorKind::kFormat, where, ": pins.\"", r, "\": \"", rev.substr(0, 64),
                 "\" is not a revision id");
          }
          set.insert(rev);
        }
        p.pins[r] = std::move(set);
      }
    } else {
      fail(ErrorKind::kFormat, where, ": unknown table or key \"", key,
           "\" (expected unsigned, keys, revoked, pins)");
    }
  }
  return p;
}

TrustPolicy read_trust_policy(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, file.string(), ": trust policy file not found");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_trust_policy(ss.str(), file.string());
}

void set_trust_overrides(TrustOverrides overrides) {
  std::lock_guard<std::mutex> lock(state().mu);
  state().overrides = std::move(overrides);
  state().cached.reset();
}

void reset_trust_policy() {
  std::lock_guard<std::mutex> lock(state().mu);
  state().cached.reset();
}

std::vector<fs::path> trust_policy_files() {
  std::vector<fs::path> out;
  std::error_code ec;
  auto add_if_exists = [&](const fs::path& p) {
    if (!p.empty() && fs::is_regular_file(p, ec)) out.push_back(p);
  };
  if (fs::path exe = program_dir(); !exe.empty()) {
    add_if_exists(exe.parent_path() / "share" / "khub" / "trust-policy.toml");
  }
  if (fs::path home = env::hf_home(); !home.empty())
    add_if_exists(home / "khub" / "trust-policy.toml");
  add_if_exists(project_policy());
  // Named explicitly: a missing file is an error when read, not skipped.
  if (auto f = env::get("KHUB_TRUST_POLICY")) out.push_back(*f);
  for (const fs::path& f : state().overrides.files) out.push_back(f);
  return out;
}

std::shared_ptr<const TrustPolicy> active_trust_policy() {
  {
    std::lock_guard<std::mutex> lock(state().mu);
    if (state().cached) return state().cached;
  }
  auto p = std::make_shared<TrustPolicy>(TrustPolicy::builtin());
  for (const fs::path& f : trust_policy_files()) p->merge(read_trust_policy(f));
  if (require_signed_now()) p->require_signed();
  std::lock_guard<std::mutex> lock(state().mu);
  state().cached = p;
  return p;
}

std::vector<std::pair<std::string, std::string>> read_signature_files(const fs::path& variant_dir) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  fs::path dir = variant_dir / kSignaturesFolder;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string rel = std::string(kSignaturesFolder) + "/" + e.path().filename().string();
    if (!is_signature_path(rel) || !e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > (1u << 20)) text.resize(1u << 20);  // a statement is a few KiB
    out.emplace_back(rel, std::move(text));
  }
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json TrustVerdict::to_json() const {
  nlohmann::json j;
  j["allowed"] = allowed;
  j["verdict"] = verdict;
  j["signer"] = signer.empty() ? nlohmann::json(nullptr) : nlohmann::json(signer);
  j["signer-name"] = signer_name;
  j["signers"] = signers;
  j["reason"] = reason;
  j["signatures"] = nlohmann::json::array();
  for (const auto& c : checks) {
    j["signatures"].push_back({{"file", c.file},
                               {"key", c.key_id},
                               {"key-name", c.key_name},
                               {"status", signature_status_name(c.status)},
                               {"detail", c.detail}});
  }
  return j;
}

TrustVerdict evaluate_trust(const TrustPolicy& policy, const TrustSubject& s) {
  TrustVerdict v;
  const bool versioned = s.revision != "local" && !s.revision.empty();
  std::string what = (s.repo.empty() ? std::string("(local path)") : s.repo) + "@" +
                     short_rev(s.revision) + " variant " + s.variant + " (" + s.source + ")";
  std::string effective_revision = s.revision;
  for (const auto& [file, text] : s.signatures) {
    SignatureCheck c{SignatureCheck::kInvalid, file, "", "", ""};
    try {
      SignatureFile sig = parse_signature_file(text, file);
      c.key_id = sig.key.id;
      if (policy.revoked.count(sig.key.id)) {
        c.status = SignatureCheck::kRevoked;
        c.detail = "key " + sig.key.id + " is revoked by the trust policy";
      } else if (!verify_signature(sig.key, sig.signature, sig.statement)) {
        c.detail = "the ed25519 signature by key " + sig.key.id + " does not verify";
      } else {
        Statement st = parse_statement(sig.statement, file);
        std::string repo = s.repo.empty() ? st.repo : s.repo;
        std::string diff = statement_difference(st, s.actual, versioned);
        if (!diff.empty()) {
          c.status = SignatureCheck::kMismatch;
          c.detail = "signature by key " + sig.key.id + " does not match: " + diff;
        } else if (const TrustedKey* k = policy.find_key(sig.key.id, repo)) {
          c.status = SignatureCheck::kTrusted;
          c.key_name = k->name;
          if (!versioned) effective_revision = st.revision;
        } else {
          c.status = SignatureCheck::kUntrusted;
          c.detail = "key " + sig.key.id + " is not trusted for " + repo + " by the policy";
        }
      }
    } catch (const Error& e) {
      c.detail = e.what();
    }
    v.checks.push_back(std::move(c));
  }
  auto refuse = [&](const std::string& why) {
    v.allowed = false;
    v.verdict = "refused";
    v.reason = "refused by the trust policy: " + what + ": " + why;
    return v;
  };
  for (const auto& c : v.checks) {
    if (c.status == SignatureCheck::kTrusted) {
      v.signers.push_back(c.key_id);
      if (v.signer.empty()) {
        v.signer = c.key_id;
        v.signer_name = c.key_name;
      }
    }
  }
  // Evidence of tampering or compromise refuses whatever else the variant carries.
  for (const auto& c : v.checks) {
    if (c.status == SignatureCheck::kRevoked || c.status == SignatureCheck::kInvalid ||
        c.status == SignatureCheck::kMismatch) {
      return refuse(c.file + ": " + c.detail);
    }
  }
  if (!s.locked_signers.empty()) {
    bool same = std::any_of(v.signers.begin(), v.signers.end(), [&](const std::string& id) {
      return std::find(s.locked_signers.begin(), s.locked_signers.end(), id) !=
             s.locked_signers.end();
    });
    if (!same) {
      std::string locked, now;
      for (const auto& id : s.locked_signers) locked += (locked.empty() ? "" : ", ") + id;
      for (const auto& id : v.signers) now += (now.empty() ? "" : ", ") + id;
      return refuse(
          "the signer changed: kernels.lock records key " + locked + ", this revision " +
          (now.empty() ? std::string("has no trusted signature") : "is signed by " + now));
    }
  }
  if (auto pin = policy.pins.find(s.repo); pin != policy.pins.end()) {
    if (!pin->second.count(effective_revision)) {
      std::string list;
      for (const auto& r : pin->second) list += (list.empty() ? "" : ", ") + r;
      return refuse("revision " + effective_revision + " is not one the policy pins " + s.repo +
                    " to (" + list + ")");
    }
  }
  if (!v.signer.empty()) {
    v.allowed = true;
    v.verdict = "signed";
    v.reason =
        "signed by key " + v.signer + (v.signer_name.empty() ? "" : " (" + v.signer_name + ")");
    return v;
  }
  std::string unsigned_what = v.checks.empty() ? "unsigned" : "signed by no trusted key";
  for (const auto& c : v.checks) unsigned_what += "; " + c.file + ": " + c.detail;
  switch (policy.unsigned_rule(s.scope)) {
    case UnsignedRule::kRefuse:
      return refuse(unsigned_what + ", and the policy refuses unsigned kernels from " +
                    std::string(trust_scope_name(s.scope)) + " sources");
    case UnsignedRule::kWarn:
      v.allowed = true;
      v.warning = true;
      v.verdict = "unsigned-warned";
      v.reason = what + " is " + unsigned_what + "; loaded because the policy allows unsigned " +
                 std::string(trust_scope_name(s.scope)) + " kernels with a warning";
      return v;
    case UnsignedRule::kAllow:
      v.allowed = true;
      v.verdict = "unsigned-allowed";
      v.reason = what + " is " + unsigned_what;
      return v;
  }
  return v;
}

}  // namespace khub::loader
