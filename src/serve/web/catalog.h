// What the web pages show about a hub directory (docs/design.md §6.2), read through the server's
// HubStore: the repos (org/name folders with refs or revisions; folders whose names are not valid
// repo ids are never listed), their refs, and per revision a summary — kernel, model or other
// repo, the variants under build/ with what their metadata.json says (backend, ABI, archs,
// manifest), every file with its size and SHA-256, README.md and bench/results/*.json. Revisions
// are immutable, so a summary is built once per revision and kept (rebuilt when its signature
// files change); refs move and are re-read when their files change.
//
// Freshness: what the catalog read (the listing, each repo's overview) is used without looking at
// the folder again for `revalidate_after` (250 ms by default) and while HubStore::generation() is
// unchanged. So a commit, repo, branch or tag made through the server shows on the very next page
// (a generation change is checked synchronously, by the request). Past the interval the request
// is still answered from what was read (stale-while-revalidate) and wakes the catalog's one
// refresh thread, which checks the folder again and swaps in what it finds; only what is older
// than interval + `stale_for` (10 s by default: a server nobody asked for a while), and a first
// request (nothing read yet), wait for the check. So a change made behind the server's back
// (`khub publish --hub DIR`, `khub sign`, a file edited by hand) shows within the interval plus
// one refresh while pages are requested, and no page shows a check older than interval +
// stale_for. Checking is stats and listings (the stamps below), so a warm index of 1,000 repos
// costs no file system access on the request's path at all.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/hub_store.h"

namespace khub::serve::web {

struct FileRow {
  std::string path;
  uint64_t size = 0;
  std::string sha256;  // hex
};

struct VariantSummary {
  std::string name;             // build/<name>
  std::string family;           // "khub", "torch", ... ("" when the name does not parse)
  std::string name_problem;     // why the name does not parse
  std::string backend;          // "cpu", "cuda", ...
  std::string backend_version;  // "13.0" ("" unversioned)
  std::string cpu, os;
  std::string abi;                 // "khub ABI 1", "torch 2.12", manifest "1.0" appended
  std::vector<std::string> archs;  // metadata backend.archs (CUDA: compute capabilities)
  std::string min_runtime;
  std::string license;
  std::string metadata_problem;  // metadata.json missing or invalid ("" when fine)
  nlohmann::json manifest;       // null when absent
  std::vector<FileRow> files;    // paths relative to the revision
  uint64_t bytes = 0;
  std::string lock_hash;        // kernels.lock variant hash (git_lfs_concat)
  std::string metadata_sha256;  // hex of metadata.json ("" when absent)
  // The variant's signatures as the server's trust policy judges them (loader/trust_policy.h,
  // scope remote: what a client with the same policy decides). `signature` is "signed" (a
  // trusted key signed exactly these files), "unsigned" (no signature file), "untrusted"
  // (signed, but by no key the policy trusts for the repo) or "refused" (a revoked key, a
  // signature that does not verify, or one made for other files, revision, variant or repo).
  std::string signature;
  std::string signer;         // the trusted key id ("" when none)
  std::string signer_name;    // its name in the policy
  std::string signature_why;  // the verdict's reason (for the title and the repo page)
  std::vector<std::string> signature_keys;  // key id of every signature file, in order
};

struct RevisionSummary {
  std::string revision;
  std::string last_modified;
  std::string kind;  // "kernel" (has build/<variant>/), "model" (config.json) or "repo"
  std::vector<VariantSummary> variants;
  std::vector<FileRow> files;
  uint64_t bytes = 0;
  std::optional<std::string> readme_html;  // README.md rendered (markdown.h)
  std::vector<std::string> bench_files;    // bench/results/*.json paths
  std::vector<std::string> layers;         // layer names over every variant's manifest
  // Over the variants: "signed" when every one is, "refused" when any is, "untrusted" when any
  // is signed by no trusted key, "partly signed" when some are signed and the rest unsigned, else
  // "unsigned" ("" for a repo without variants).
  std::string signature;
  const VariantSummary* variant(const std::string& name) const;
};

struct RepoOverview {
  std::string id;
  bool is_private = false;
  RefList refs;
  std::string default_ref;                      // "main", "vN" or "" (no such branch)
  std::string latest_tag;                       // the highest semver tag ("" when none)
  std::shared_ptr<const RevisionSummary> head;  // of default_ref (null when none)
  std::string problem;  // why `head` could not be read ("" when it could or there is none)
};

class Catalog {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kRevalidateAfter{250};
  static constexpr std::chrono::milliseconds kStaleFor{10000};
  // revalidate_after 0: look at the folder on every call (tests that change it between calls).
  explicit Catalog(HubStore& store, std::chrono::milliseconds revalidate_after = kRevalidateAfter,
                   std::chrono::milliseconds stale_for = kStaleFor)
      : store_(store), revalidate_after_(revalidate_after), stale_for_(stale_for) {}
  // Stops the refresh thread (a refresh under way stops after the repo it is reading) and joins.
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;
  HubStore& store() { return store_; }
  // The clock the interval is measured on (tests step it by hand); set before any other call.
  void set_clock(std::function<Clock::time_point()> now) { now_ = std::move(now); }

  // Every repo id in the hub, sorted (private ones only when `with_private`). The listing is kept
  // while the hub folder, the org folders and the repo folders keep their stamps (a repo's
  // `private` marker, refs/ and revisions/ folders are entries of its folder).
  // Both are kept for the interval above (repo_ids's folder stamps, and overview's refs and
  // summary checks, are skipped within it).
  std::vector<std::string> repo_ids(bool with_private);
  RepoOverview overview(const std::string& repo_id);
  // HubStore::refs, kept while no file or folder under <repo>/refs changed (each one's inode,
  // size and nanosecond mtime are compared: a few stats instead of a listing and reads).
  RefList refs(const std::string& repo_id);
  std::shared_ptr<const RevisionSummary> summary(const std::string& repo_id,
                                                 const std::string& revision);
  // (Summaries are rebuilt when the revision's signature files change: HubStore::index.)
  // Every revision folder of the repo with its date, newest first ("commits").
  std::vector<std::pair<std::string, std::string>> revisions(const std::string& repo_id) const;
  // Reads the listing and every repo's overview (private ones too) on the refresh thread, so that
  // the first index page after `khub serve` starts is answered from memory. Returns at once.
  void prewarm();
  // Waits until no background refresh is asked for or running (tests and the benchmark); false
  // when `timeout` passed first. refreshes(): how many have finished.
  bool wait_for_refresh(std::chrono::milliseconds timeout);
  uint64_t refreshes();

 private:
  // When a cached value was read: it is used again while fresh (age()).
  struct Checked {
    Clock::time_point at;
    uint64_t generation = 0;  // HubStore::generation() before the folder was read
    bool valid = false;
  };
  // fresh: used as it is; stale: used, and a background refresh is asked for; expired: read again
  // by the caller (nothing read, another generation, or older than interval + stale_for).
  enum class Age { kFresh, kStale, kExpired };
  Age age(const Checked& c, Clock::time_point now, uint64_t generation) const {
    if (!c.valid || c.generation != generation) return Age::kExpired;
    if (now - c.at < revalidate_after_) return Age::kFresh;
    if (revalidate_after_.count() > 0 && now - c.at < revalidate_after_ + stale_for_) {
      return Age::kStale;
    }
    return Age::kExpired;
  }
  HubStore& store_;
  std::chrono::milliseconds revalidate_after_;
  std::chrono::milliseconds stale_for_;
  std::function<Clock::time_point()> now_ = [] { return Clock::now(); };
  std::mutex mu_;
  struct CachedSummary {
    std::shared_ptr<const RevisionIndex> index;  // what it was built from
    std::shared_ptr<const RevisionSummary> summary;
  };
  std::map<std::string, CachedSummary> summaries_;  // guarded by mu_
  struct Stamp {
    std::string path;
    uint64_t ino = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp stamp(const fs::path& p);
  struct CachedRefs {
    std::vector<Stamp> stamps;
    RefList refs;
  };
  std::map<std::string, CachedRefs> refs_;  // guarded by mu_
  struct ListedRepo {
    std::string id;
    Stamp dir;
    bool exists = false;  // has refs/ or revisions/ (folders without are watched, not listed)
    bool is_private = false;
  };
  struct Listing {
    std::vector<Stamp> stamps;  // the hub and org folders
    std::vector<ListedRepo> repos;
  };
  // `old` when every stamp in it still matches, else the hub folder listed again (no lock held).
  std::shared_ptr<const Listing> check_listing(std::shared_ptr<const Listing> old) const;
  std::shared_ptr<const Listing> listing_;  // guarded by mu_
  Checked listing_checked_;                 // guarded by mu_
  struct CachedOverview {
    RepoOverview overview;
    Checked checked;
  };
  std::map<std::string, CachedOverview> overviews_;  // guarded by mu_
  // Reads the overview from the folder and keeps it as checked at (at, generation).
  RepoOverview read_overview(const std::string& repo_id, Clock::time_point at, uint64_t generation);

  // The refresh thread: started by the first stale use, woken by each one while no refresh is
  // asked for or running; it checks the listing and every kept overview, as checked at the time
  // of the request that asked (earlier than the reads, so nothing is trusted for longer).
  void ask_refresh(Clock::time_point at);  // mu_ held
  void refresh_loop();
  std::thread worker_;
  std::condition_variable wake_, idle_;  // with mu_
  bool refresh_asked_ = false;           // guarded by mu_
  bool warm_all_ = false;                // guarded by mu_: the next refresh reads every repo
  bool refreshing_ = false;              // guarded by mu_
  Clock::time_point refresh_at_;         // guarded by mu_
  uint64_t refreshes_ = 0;               // guarded by mu_
  std::atomic<bool> stopping_{false};
};

// "main" if present, else the highest vN branch, else "" (HubStore::default_branch on a RefList).
std::string default_ref_of(const RefList& refs);
// The highest tag that parses as a semantic version, "" when none.
std::string latest_version_tag(const RefList& refs);

}  // namespace khub::serve::web
