// Repos, refs and revision summaries for the web pages (catalog.h).
#include "serve/web/catalog.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "hub/http/lockfile.h"
#include "hub/ref/repo_names.h"
#include "hub/ref/semver.h"
#include "hub/source/revision_id.h"
#include "hub/store/content_hash.h"
#include "loader/metadata.h"
#include "loader/signature.h"
#include "loader/trust_policy.h"
#include "loader/variant.h"
#include "serve/web/markdown.h"

namespace khub::serve::web {

using hub::net::file_hash_hex;
using hub::net::HashAlgo;
using hub::net::sha256_hex;

namespace {

constexpr uint64_t kMaxReadme = 1 << 20;  // larger READMEs are shown as a note, not rendered

std::optional<std::string> read_text(const fs::path& p, uint64_t limit) {
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec || size > limit) return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void describe_name(VariantSummary& v) {
  std::string why;
  auto parsed = loader::parse_variant_name(v.name, &why);
  if (!parsed) {
    v.name_problem = why;
    return;
  }
  v.family = std::string(loader::variant_family_name(parsed->family));
  v.cpu = parsed->cpu;
  v.os = parsed->os;
  if (parsed->family != loader::VariantFamily::kTorchUniversal) {
    v.backend = std::string(loader::backend_kind_name(parsed->backend.kind));
    v.backend_version = parsed->backend.version_str();
  }
  switch (parsed->family) {
    case loader::VariantFamily::kKhub:
      v.abi = "khub ABI " + std::to_string(parsed->abi_major);
      break;
    case loader::VariantFamily::kTorch:
    case loader::VariantFamily::kTorchStableAbi:
    case loader::VariantFamily::kTvmFfi:
      v.abi = v.family + " " + std::to_string(parsed->abi_major) + "." +
              std::to_string(parsed->abi_minor);
      break;
    default:
      v.abi = v.family;
  }
}

// The trust policy's verdict on each variant's signature files, over the files as indexed (their
// SHA-256 from the summary), and the revision's overall status (catalog.h).
void judge_signatures(RevisionSummary& s, const std::string& repo_id, const fs::path& dir) {
  std::shared_ptr<const loader::TrustPolicy> policy;
  std::string policy_error;
  try {
    policy = loader::active_trust_policy();
  } catch (const Error& e) {
    policy_error = e.what();
  }
  int signed_count = 0, refused = 0, untrusted = 0;
  for (auto& v : s.variants) {
    loader::TrustSubject subject;
    subject.repo = repo_id;
    subject.revision = s.revision;
    subject.variant = v.name;
    subject.scope = loader::TrustScope::kRemote;
    subject.source = "khub serve";
    subject.signatures = loader::read_signature_files(dir / "build" / v.name);
    for (const auto& [file, text] : subject.signatures) {
      v.signature_keys.push_back(file.substr(std::strlen(loader::kSignaturesFolder) + 1,
                                             file.size() - std::strlen(loader::kSignaturesFolder) -
                                                 1 - std::strlen(loader::kSignatureSuffix)));
    }
    if (subject.signatures.empty()) {
      v.signature = "unsigned";
      continue;
    }
    if (!policy) {
      v.signature = "unchecked";
      v.signature_why = "the server's trust policy does not load: " + policy_error;
      continue;
    }
    subject.actual.repo = repo_id;
    subject.actual.revision = s.revision;
    subject.actual.variant = v.name;
    auto parsed = loader::parse_variant_name(v.name);
    subject.actual.abi = parsed ? parsed->abi_major : 0;
    const std::string prefix = "build/" + v.name + "/";
    for (const auto& f : v.files) {
      if (hub::is_revision_signature_path(f.path)) continue;
      subject.actual.files.push_back({"sha256", f.sha256, f.path.substr(prefix.size())});
    }
    std::sort(subject.actual.files.begin(), subject.actual.files.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    loader::TrustVerdict verdict = loader::evaluate_trust(*policy, subject);
    v.signature_why = verdict.reason;
    bool evidence = std::any_of(verdict.checks.begin(), verdict.checks.end(), [](const auto& c) {
      return c.status == loader::SignatureCheck::kRevoked ||
             c.status == loader::SignatureCheck::kInvalid ||
             c.status == loader::SignatureCheck::kMismatch;
    });
    if (verdict.verdict == "signed") {
      v.signature = "signed";
      v.signer = verdict.signer;
      v.signer_name = verdict.signer_name;
    } else {
      v.signature = evidence ? "refused" : "untrusted";
    }
  }
  for (const auto& v : s.variants) {
    signed_count += v.signature == "signed";
    refused += v.signature == "refused";
    untrusted += v.signature == "untrusted" || v.signature == "unchecked";
  }
  if (s.variants.empty()) {
    s.signature = "";
  } else if (refused) {
    s.signature = "refused";
  } else if (signed_count == static_cast<int>(s.variants.size())) {
    s.signature = "signed";
  } else if (untrusted) {
    s.signature = "untrusted";
  } else if (signed_count > 0) {
    s.signature = "partly signed";
  } else {
    s.signature = "unsigned";
  }
}

void describe_metadata(VariantSummary& v, const fs::path& variant_dir) {
  fs::path meta = variant_dir / "metadata.json";
  auto text = read_text(meta, 16 << 20);
  if (!text) {
    v.metadata_problem = "no readable metadata.json";
    return;
  }
  v.metadata_sha256 = sha256_hex(*text);
  try {
    loader::VariantMetadata md =
        loader::parse_metadata(*text, "build/" + v.name + "/metadata.json");
    v.archs = md.archs;
    v.min_runtime = md.min_runtime;
    v.license = md.license;
    if (v.backend.empty()) v.backend = std::string(loader::backend_kind_name(md.backend));
    if (md.manifest.is_object()) {
      v.manifest = md.manifest;
      auto major = md.manifest.find("abi-major");
      auto minor = md.manifest.find("abi-minor");
      if (major != md.manifest.end() && major->is_number_unsigned() && minor != md.manifest.end() &&
          minor->is_number_unsigned()) {
        v.abi += (v.abi.empty() ? "" : ", ") + std::string("manifest ABI ") +
                 std::to_string(major->get<uint64_t>()) + "." +
                 std::to_string(minor->get<uint64_t>());
      }
    }
  } catch (const Error& e) {
    v.metadata_problem = e.what();
  }
}

}  // namespace

const VariantSummary* RevisionSummary::variant(const std::string& name) const {
  for (const auto& v : variants) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

std::string default_ref_of(const RefList& refs) {
  long best = -1;
  std::string best_name;
  for (const auto& g : refs.branches) {
    if (g.name == "main") return g.name;
    if (g.name.size() >= 2 && g.name[0] == 'v' &&
        std::all_of(g.name.begin() + 1, g.name.end(), ::isdigit)) {
      long major = std::atol(g.name.c_str() + 1);
      if (major > best) best = major, best_name = g.name;
    }
  }
  return best_name;
}

std::string latest_version_tag(const RefList& refs) {
  std::optional<hub::SemVer> best;
  std::string name;
  for (const auto& g : refs.tags) {
    auto v = hub::parse_semver(g.name);
    if (v && (!best || *best < *v)) best = v, name = g.name;
  }
  return name;
}

Catalog::~Catalog() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

void Catalog::ask_refresh(Clock::time_point at) {
  if (refresh_asked_ || refreshing_ || stopping_) return;
  refresh_asked_ = true;
  refresh_at_ = at;
  if (!worker_.joinable()) worker_ = std::thread([this] { refresh_loop(); });
  wake_.notify_one();
}

void Catalog::prewarm() {
  std::lock_guard<std::mutex> lock(mu_);
  warm_all_ = true;
  ask_refresh(now_());
}

void Catalog::refresh_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return refresh_asked_ || stopping_; });
    if (stopping_) break;
    refresh_asked_ = false;
    refreshing_ = true;
    const bool all = std::exchange(warm_all_, false);
    const Clock::time_point at = refresh_at_;
    std::shared_ptr<const Listing> old = listing_;
    std::vector<std::string> ids;
    for (const auto& [id, cached] : overviews_) ids.push_back(id);
    lock.unlock();
    const uint64_t generation = store_.generation();  // before anything is read
    try {
      auto fresh = check_listing(old);
      if (all) {  // prewarm(): every listed repo, not only those a page has shown
        ids.clear();
        for (const ListedRepo& r : fresh->repos)
          if (r.exists) ids.push_back(r.id);
      }
      std::lock_guard<std::mutex> relock(mu_);
      listing_ = std::move(fresh);
      listing_checked_ = {at, generation, true};
    } catch (...) {
      // The next request past the interval reads it itself (and answers with what failed).
      std::lock_guard<std::mutex> relock(mu_);
      listing_checked_.valid = false;
    }
    for (const auto& id : ids) {
      if (stopping_) break;
      try {
        read_overview(id, at, generation);
      } catch (...) {
        std::lock_guard<std::mutex> relock(mu_);
        overviews_.erase(id);
      }
    }
    lock.lock();
    refreshing_ = false;
    ++refreshes_;
    idle_.notify_all();
  }
  refreshing_ = false;
  idle_.notify_all();
}

bool Catalog::wait_for_refresh(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return !refresh_asked_ && !refreshing_; });
}

uint64_t Catalog::refreshes() {
  std::lock_guard<std::mutex> lock(mu_);
  return refreshes_;
}

std::shared_ptr<const Catalog::Listing> Catalog::check_listing(
    std::shared_ptr<const Listing> old) const {
  if (old && !old->stamps.empty()) {
    bool same = true;
    for (const auto& s : old->stamps) same = same && stamp(s.path) == s;
    for (const auto& r : old->repos) same = same && stamp(r.dir.path) == r.dir;
    if (same) return old;
  }
  auto fresh = std::make_shared<Listing>();
  fresh->stamps = {stamp(store_.root())};
  std::error_code ec;
  for (auto org = fs::directory_iterator(store_.root(), ec); !ec && org != fs::end(org);
       org.increment(ec)) {
    if (org->is_symlink() || !org->is_directory()) continue;
    fresh->stamps.push_back(stamp(org->path()));
    std::error_code ec2;
    for (auto repo = fs::directory_iterator(org->path(), ec2); !ec2 && repo != fs::end(repo);
         repo.increment(ec2)) {
      std::string id = org->path().filename().string() + "/" + repo->path().filename().string();
      if (!hub::net::is_valid_repo_id(id)) continue;
      ListedRepo r{id, stamp(repo->path())};  // stamped before it is looked at
      r.exists = store_.repo_exists(id);
      r.is_private = r.exists && store_.is_private(id);
      fresh->repos.push_back(std::move(r));
    }
  }
  std::sort(fresh->repos.begin(), fresh->repos.end(),
            [](const ListedRepo& a, const ListedRepo& b) { return a.id < b.id; });
  return fresh;
}

std::vector<std::string> Catalog::repo_ids(bool with_private) {
  const Clock::time_point now = now_();
  const uint64_t generation = store_.generation();  // before anything is read
  std::shared_ptr<const Listing> listing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listing = listing_;
    Age a = age(listing_checked_, now, generation);
    if (a == Age::kStale) ask_refresh(now);
    if (a == Age::kExpired) listing.reset();
  }
  if (!listing) {
    std::shared_ptr<const Listing> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      old = listing_;
    }
    listing = check_listing(old);
    std::lock_guard<std::mutex> lock(mu_);
    listing_ = listing;
    listing_checked_ = {now, generation, true};
  }
  std::vector<std::string> out;
  for (const auto& r : listing->repos) {
    if (r.exists && (with_private || !r.is_private)) out.push_back(r.id);
  }
  return out;
}

RepoOverview Catalog::overview(const std::string& repo_id) {
  const Clock::time_point now = now_();
  const uint64_t generation = store_.generation();  // before anything is read
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = overviews_.find(repo_id);
    if (it != overviews_.end()) {
      Age a = age(it->second.checked, now, generation);
      if (a == Age::kStale) ask_refresh(now);
      if (a != Age::kExpired) return it->second.overview;
    }
  }
  return read_overview(repo_id, now, generation);
}

RepoOverview Catalog::read_overview(const std::string& repo_id, Clock::time_point at,
                                    uint64_t generation) {
  RepoOverview o;
  o.id = repo_id;
  o.is_private = store_.is_private(repo_id);
  o.refs = refs(repo_id);
  o.default_ref = default_ref_of(o.refs);
  o.latest_tag = latest_version_tag(o.refs);
  for (const auto& g : o.refs.branches) {
    if (g.name != o.default_ref) continue;
    // One unreadable revision (a ref to a removed folder, a file that cannot be read) must not
    // take the whole index down: the row says what is wrong instead.
    try {
      o.head = summary(repo_id, g.commit);
    } catch (const StoreError& e) {
      o.problem = e.what();
    } catch (const Error& e) {
      o.problem = e.what();
    }
  }
  // Two readers (requests, the refresh thread) may read at once; either result is good for its
  // own `checked` (a newer generation overwritten by an older one only means one more check).
  std::lock_guard<std::mutex> lock(mu_);
  overviews_[repo_id] = {o, {at, generation, true}};
  return o;
}

Catalog::Stamp Catalog::stamp(const fs::path& p) {
  Stamp s;
  s.path = p.string();
  struct stat st;
  if (::lstat(p.c_str(), &st) == 0) {
    s.ino = st.st_ino;
    s.size = static_cast<uint64_t>(st.st_size);
    s.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
  return s;
}

RefList Catalog::refs(const std::string& repo_id) {
  fs::path base = store_.root() / repo_id / "refs";
  std::optional<CachedRefs> kept;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = refs_.find(repo_id);
    if (it != refs_.end()) kept = it->second;
  }
  if (kept) {  // stats without the lock: requests do not wait for the refresh thread's
    bool same = true;
    for (const auto& s : kept->stamps) {
      if (!(stamp(s.path) == s)) {
        same = false;
        break;
      }
    }
    if (same) return kept->refs;
  }
  // Stamps first, then the listing: a change between the two shows up at the next check.
  CachedRefs fresh;
  for (const char* kind : {"heads", "tags"}) {
    fresh.stamps.push_back(stamp(base / kind));
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(base / kind, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      fresh.stamps.push_back(stamp(it->path()));
    }
  }
  fresh.refs = store_.refs(repo_id);
  std::lock_guard<std::mutex> lock(mu_);
  refs_[repo_id] = fresh;
  return fresh.refs;
}

std::vector<std::pair<std::string, std::string>> Catalog::revisions(
    const std::string& repo_id) const {
  std::vector<std::pair<std::string, std::string>> out;  // (date, revision)
  std::error_code ec;
  fs::path dir = store_.root() / repo_id / "revisions";
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    std::string rev = it->path().filename().string();
    if (!hub::net::is_safe_revision_id(rev) || it->is_symlink() || !it->is_directory()) continue;
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0) continue;
    char buf[32];
    std::tm tm{};
    gmtime_r(&st.st_mtime, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out.emplace_back(buf, rev);
  }
  std::sort(out.rbegin(), out.rend());
  for (auto& [date, rev] : out) std::swap(date, rev);
  return out;
}

std::shared_ptr<const RevisionSummary> Catalog::summary(const std::string& repo_id,
                                                        const std::string& revision) {
  std::string key = repo_id + "@" + revision;
  auto idx = store_.index(repo_id, revision);  // a new index when signatures changed
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = summaries_.find(key);
    if (it != summaries_.end() && it->second.index == idx) return it->second.summary;
  }
  fs::path dir = store_.revision_dir(repo_id, revision);
  auto s = std::make_shared<RevisionSummary>();
  s->revision = revision;
  s->last_modified = idx->last_modified;
  std::vector<hub::net::TreeEntry> tree;
  for (const auto& e : idx->entries) {
    hub::net::TreeEntry t;
    t.path = e.path;
    t.is_dir = e.is_dir;
    t.size = e.size;
    t.oid = e.oid;
    if (e.lfs) t.lfs_sha256 = e.sha256;
    tree.push_back(std::move(t));
    if (e.is_dir) {
      if (e.path.rfind("build/", 0) == 0 && e.path.find('/', 6) == std::string::npos) {
        VariantSummary v;
        v.name = e.path.substr(6);
        s->variants.push_back(std::move(v));
      }
      continue;
    }
    FileRow f{e.path, e.size, e.lfs ? e.sha256 : file_hash_hex(dir / e.path, HashAlgo::kSha256)};
    s->bytes += e.size;
    if (e.path.rfind("bench/results/", 0) == 0 && e.path.size() > 5 &&
        e.path.compare(e.path.size() - 5, 5, ".json") == 0) {
      s->bench_files.push_back(e.path);
    }
    s->files.push_back(std::move(f));
  }
  for (auto& v : s->variants) {
    describe_name(v);
    describe_metadata(v, dir / "build" / v.name);
    std::string prefix = "build/" + v.name + "/";
    for (const auto& f : s->files) {
      if (f.path.rfind(prefix, 0) == 0) {
        v.files.push_back(f);
        v.bytes += f.size;
      }
    }
    v.lock_hash = hub::net::variant_lock_hash(tree, v.name);
    if (v.manifest.is_object() && v.manifest.contains("layers") &&
        v.manifest["layers"].is_array()) {
      for (const auto& l : v.manifest["layers"]) {
        if (l.is_object() && l.contains("name") && l["name"].is_string()) {
          std::string name = l["name"];
          if (std::find(s->layers.begin(), s->layers.end(), name) == s->layers.end()) {
            s->layers.push_back(name);
          }
        }
      }
    }
  }
  s->kind = !s->variants.empty() ? "kernel" : idx->find("config.json") ? "model" : "repo";
  if (const IndexedEntry* readme = idx->find("README.md"); readme && !readme->is_dir) {
    if (auto text = read_text(dir / "README.md", kMaxReadme)) {
      s->readme_html = render_markdown(*text);
    } else {
      s->readme_html = "<p class=\"note\">README.md is larger than 1 MiB and is not rendered.</p>";
    }
  }
  judge_signatures(*s, repo_id, dir);
  std::lock_guard<std::mutex> lock(mu_);
  summaries_[key] = {idx, s};
  return s;
}

}  // namespace khub::serve::web
