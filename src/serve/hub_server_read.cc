// khub serve (hub_server_impl.h). The read routes: repo info (with the Hub's expand=), refs, tree
// listings, files (resolve, and raw: git's blob, so an LFS file's pointer, with ranges and
// injected faults), a revision's commit history and paths-info.
#include "serve/hub_server_impl.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/logging.h"
#include "hub/ref/repo_names.h"
#include "hub/store/content_hash.h"

namespace khub::serve {

using namespace khub::hub::net;

std::optional<std::string> HubServer::Impl::revision_of(httplib::Response& res,
                                                        const std::string& repo,
                                                        const std::string& rev) {
  auto resolved = store.resolve(repo, rev);
  if (!resolved) send_error(res, 404, "RevisionNotFound", "Invalid rev id: " + rev);
  return resolved;
}

void HubServer::Impl::handle_info(const httplib::Request& req, httplib::Response& res,
                                  const Route& r) {
  if (!check_read(req, res, r.repo_id)) return;
  std::string rev_name = r.rev;
  if (rev_name.empty()) {
    auto def = store.default_branch(r.repo_id);
    if (!def) {
      send_error(res, 404, "RevisionNotFound", "the repository has no main or vN branch");
      return;
    }
    rev_name = *def;
  }
  auto rev = revision_of(res, r.repo_id, rev_name);
  if (!rev) return;
  auto idx = store.index(r.repo_id, *rev);
  bool blobs = truthy(req.get_param_value("blobs"));
  json siblings = json::array();
  uint64_t total = 0;
  for (const auto& e : idx->entries) {
    if (e.is_dir) continue;
    total += e.size;
    json s = {{"rfilename", e.path}};
    if (blobs) {
      s["size"] = e.size;
      s["blobId"] = e.oid;
      if (e.lfs) {
        s["lfs"] = {{"sha256", e.sha256},
                    {"size", e.size},
                    {"pointerSize", lfs_pointer(e.sha256, e.size).size()}};
      }
    }
    siblings.push_back(s);
  }
  std::string org = r.repo_id.substr(0, r.repo_id.find('/'));
  json info = {{"_id", sha256_hex(r.repo_id).substr(0, 24)},
               {"id", r.repo_id},
               {"modelId", r.repo_id},
               {"author", org},
               {"sha", *rev},
               {"lastModified", idx->last_modified},
               {"createdAt", idx->last_modified},
               {"private", store.is_private(r.repo_id)},
               {"gated", store.is_gated(r.repo_id) ? json("manual") : json(false)},
               {"disabled", false},
               {"downloads", 0},
               {"downloadsAllTime", 0},
               {"likes", 0},
               {"tags", json::array()},
               {"siblings", siblings},
               {"usedStorage", total}};
  // expand=KEY (repeated, or expand[]=KEY), as the Hub: only _id, id and the asked properties;
  // a property the Hub knows but this hub has no value for (cardData, config, ...) is left out,
  // one it does not know is a 400.
  static const std::set<std::string> kExpandable = {"author",
                                                    "baseModels",
                                                    "cardData",
                                                    "childrenModelCount",
                                                    "config",
                                                    "createdAt",
                                                    "disabled",
                                                    "downloads",
                                                    "downloadsAllTime",
                                                    "evalResults",
                                                    "gated",
                                                    "gguf",
                                                    "gitalyUid",
                                                    "inference",
                                                    "inferenceProviderMapping",
                                                    "lastModified",
                                                    "library_name",
                                                    "likes",
                                                    "mask_token",
                                                    "model-index",
                                                    "pipeline_tag",
                                                    "private",
                                                    "resourceGroup",
                                                    "safetensors",
                                                    "sha",
                                                    "siblings",
                                                    "spaces",
                                                    "tags",
                                                    "transformersInfo",
                                                    "trendingScore",
                                                    "usedStorage",
                                                    "widgetData",
                                                    "xetEnabled",
                                                    "citation",
                                                    "description",
                                                    "paperswithcode_id",
                                                    "datasetsServer"};
  std::vector<std::string> expand;
  for (const char* key : {"expand", "expand[]"}) {
    for (size_t i = 0; i < req.get_param_value_count(key); ++i) {
      expand.push_back(req.get_param_value(key, i));
    }
  }
  if (!expand.empty()) {
    json out = {{"_id", info["_id"]}, {"id", info["id"]}};
    for (const auto& k : expand) {
      if (!kExpandable.count(k)) {
        send_error(res, 400, "",
                   "\"expand\" must be one of the repo's properties, not '" + k + "'");
        return;
      }
      if (info.contains(k)) out[k] = info[k];
    }
    info = out;
  }
  send_json(res, info);
}

void HubServer::Impl::handle_commits(const httplib::Request& req, httplib::Response& res,
                                     const Route& r) {
  if (!check_read(req, res, r.repo_id)) return;
  auto rev = revision_of(res, r.repo_id, r.rev);
  if (!rev) return;
  auto all = store.history(r.repo_id, *rev, 100000);
  size_t limit = std::strtoull(req.get_param_value("limit").c_str(), nullptr, 10);
  if (limit == 0 || limit > 1000) limit = 50;
  size_t page = std::strtoull(req.get_param_value("p").c_str(), nullptr, 10);
  json out = json::array();
  for (size_t i = page * limit; i < all.size() && i < (page + 1) * limit; ++i) {
    const auto& e = all[i];
    out.push_back({{"id", e.id},
                   {"title", e.title},
                   {"message", e.message},
                   {"authors", json::array({{{"user", e.author}, {"avatar", ""}}})},
                   {"date", e.date},
                   {"parents", e.parent.empty() ? json::array() : json::array({e.parent})}});
  }
  if ((page + 1) * limit < all.size()) {
    res.set_header("Link", "<" + request_origin(req) + req.target.substr(0, req.target.find('?')) +
                               "?p=" + std::to_string(page + 1) +
                               "&limit=" + std::to_string(limit) + ">; rel=\"next\"");
  }
  res.set_header("X-Total-Count", std::to_string(all.size()));
  send_json(res, out);
}

json HubServer::Impl::last_commit(const std::string& repo, const std::string& revision,
                                  const std::string& path, const std::string& oid) {
  auto hist = store.history(repo, revision, 100);
  size_t i = 0;
  while (i + 1 < hist.size()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(store.revision_dir(repo, hist[i + 1].id), ec)) break;
    const IndexedEntry* e = store.index(repo, hist[i + 1].id)->find(path);
    if (!e || e->oid != oid) break;
    ++i;
  }
  return {{"id", hist[i].id}, {"title", hist[i].title}, {"date", hist[i].date}};
}

void HubServer::Impl::handle_paths_info(const httplib::Request& req, httplib::Response& res,
                                        const Route& r) {
  if (!check_read(req, res, r.repo_id)) return;
  auto rev = revision_of(res, r.repo_id, r.rev);
  if (!rev) return;
  // huggingface_hub posts a form (paths=a&paths=b&expand=True), @huggingface/hub JSON.
  std::vector<std::string> paths;
  bool expand = false;
  if (req.get_header_value("Content-Type").rfind("application/json", 0) == 0) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.value("paths", json()).is_array()) {
      send_error(res, 400, "", "expected {\"paths\": [...], \"expand\": bool}");
      return;
    }
    for (const auto& p : body["paths"]) {
      if (!p.is_string()) {
        send_error(res, 400, "", "paths must be strings");
        return;
      }
      paths.push_back(p);
    }
    expand = body.value("expand", json(false)) == true;
  } else {
    for (size_t i = 0; i < req.get_param_value_count("paths"); ++i) {
      paths.push_back(req.get_param_value("paths", i));
    }
    expand = truthy(req.get_param_value("expand"));
  }
  auto idx = store.index(r.repo_id, *rev);
  json out = json::array();
  for (std::string p : paths) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const IndexedEntry* e = idx->find(p);
    if (!e) continue;  // as the Hub: a missing path is left out
    json j = {{"type", e->is_dir ? "directory" : "file"},
              {"oid", e->oid},
              {"size", e->is_dir ? 0 : e->size},
              {"path", e->path}};
    if (e->lfs) {
      j["lfs"] = {{"oid", e->sha256},
                  {"size", e->size},
                  {"pointerSize", lfs_pointer(e->sha256, e->size).size()}};
    }
    if (expand) j["lastCommit"] = last_commit(r.repo_id, *rev, e->path, e->oid);
    out.push_back(j);
  }
  send_json(res, out);
}

void HubServer::Impl::handle_refs(const httplib::Request& req, httplib::Response& res,
                                  const Route& r) {
  if (!check_read(req, res, r.repo_id)) return;
  RefList refs = store.refs(r.repo_id);
  json out = {{"branches", json::array()}, {"tags", json::array()}, {"converts", json::array()}};
  for (auto [key, list] : {std::pair{"branches", &refs.branches}, {"tags", &refs.tags}}) {
    for (const auto& g : *list) {
      out[key].push_back({{"name", g.name}, {"ref", g.ref}, {"targetCommit", g.commit}});
    }
  }
  if (truthy(req.get_param_value("include_prs"))) out["pullRequests"] = json::array();
  send_json(res, out);
}

void HubServer::Impl::handle_tree(const httplib::Request& req, httplib::Response& res,
                                  const Route& r, const FaultDecision& fd) {
  if (!check_read(req, res, r.repo_id)) return;
  auto rev = revision_of(res, r.repo_id, r.rev);
  if (!rev) return;
  auto idx = store.index(r.repo_id, *rev);
  if (!r.path.empty()) {
    const IndexedEntry* dir = idx->find(r.path);
    if (!dir || !dir->is_dir) {
      send_error(res, 404, "EntryNotFound", "folder '" + r.path + "' not found at " + *rev);
      return;
    }
  }
  bool recursive = truthy(req.get_param_value("recursive"));
  std::string prefix = r.path.empty() ? "" : r.path + "/";
  std::vector<const IndexedEntry*> all;
  for (const auto& e : idx->entries) {
    if (e.path.rfind(prefix, 0) != 0) continue;
    if (!recursive && e.path.find('/', prefix.size()) != std::string::npos) continue;
    all.push_back(&e);
  }
  size_t cursor = 0, limit = opts.page_size;
  if (req.has_param("cursor")) {
    std::string c = req.get_param_value("cursor");
    char* end = nullptr;
    cursor = std::strtoull(c.c_str(), &end, 10);
    if (c.empty() || *end != '\0' || cursor > all.size()) {
      send_error(res, 400, "", "invalid cursor '" + c + "'");
      return;
    }
  }
  if (req.has_param("limit")) {
    limit = std::strtoull(req.get_param_value("limit").c_str(), nullptr, 10);
    if (limit == 0 || limit > 10000) limit = opts.page_size;
  }
  bool expand = truthy(req.get_param_value("expand"));
  json page = json::array();
  size_t end = std::min(all.size(), cursor + limit);
  for (size_t i = cursor; i < end; ++i) {
    const IndexedEntry& e = *all[i];
    json j = {{"type", e.is_dir ? "directory" : "file"},
              {"oid", e.oid},
              {"size", e.is_dir ? 0 : e.size},
              {"path", e.path}};
    if (e.lfs) {
      j["lfs"] = {{"oid", e.sha256},
                  {"size", e.size},
                  {"pointerSize", lfs_pointer(e.sha256, e.size).size()}};
    }
    if (expand) j["lastCommit"] = last_commit(r.repo_id, *rev, e.path, e.oid);
    page.push_back(j);
  }
  if (cursor == 0) {
    // Injected hostile entries: what a malicious hub could list.
    const std::string fake = std::string(40, 'a');
    for (const auto& h : fd.hostile) {
      std::string p = h == "dotdot"      ? prefix + "../../escaped.so"
                      : h == "absolute"  ? "/etc/khub-escaped"
                      : h == "nul"       ? prefix + std::string("a\0b.so", 6)
                      : h == "backslash" ? prefix + "..\\..\\escaped.so"
                                         : (all.empty() ? prefix + "dup" : all[0]->path);
      page.push_back({{"type", "file"}, {"oid", fake}, {"size", 4}, {"path", p}});
    }
  }
  if (end < all.size()) {
    std::string host = req.get_header_value("Host");
    std::string base = host.empty() ? "" : "http://" + host;
    std::string next = base + req.target.substr(0, req.target.find('?')) + "?" +
                       (recursive ? "recursive=true&" : "") + (expand ? "expand=true&" : "") +
                       "cursor=" + std::to_string(end) +
                       (req.has_param("limit") ? "&limit=" + std::to_string(limit) : "");
    res.set_header("Link", "<" + next + ">; rel=\"next\"");
  }
  send_json(res, page);
}

void HubServer::Impl::handle_file(const httplib::Request& req, httplib::Response& res,
                                  const Route& r, const FaultDecision& fd) {
  if (!check_read(req, res, r.repo_id)) return;
  if (!is_safe_repo_path(r.path)) {
    send_error(res, 400, "", "unsafe file path");
    return;
  }
  auto rev = revision_of(res, r.repo_id, r.rev);
  if (!rev) return;
  auto idx = store.index(r.repo_id, *rev);
  const IndexedEntry* e = idx->find(r.path);
  if (!e || e->is_dir) {
    send_error(res, 404, "EntryNotFound", "Entry not found");
    return;
  }
  res.set_header("X-Repo-Commit", *rev);
  res.set_header("Accept-Ranges", "bytes");
  if (r.action == "resolve" && e->lfs) {
    // As huggingface.co: LFS files redirect to their storage, the hub headers stay on the 302.
    std::string host = req.get_header_value("Host");
    std::string loc = (host.empty() ? "" : "http://" + host) + "/_khub/lfs/" + r.repo_id + "/" +
                      url_encode_segment(*rev) + "/" + url_encode_path(r.path);
    res.status = 302;
    res.set_header("Location", loc);
    res.set_header("X-Linked-Etag", "\"" + e->sha256 + "\"");
    res.set_header("X-Linked-Size", std::to_string(e->size));
    res.set_header("ETag", "W/\"" + e->oid.substr(0, 20) + "\"");
    res.set_content("Found. Redirecting to " + loc, "text/plain");
    return;
  }
  if (r.action == "raw" && e->lfs) {
    // As huggingface.co: /raw/ answers git's blob, which for an LFS file is its pointer.
    res.set_header("ETag", "\"" + e->oid + "\"");
    serve_text(req, res, lfs_pointer(e->sha256, e->size));
    return;
  }
  res.set_header("ETag", "\"" + (e->lfs ? e->sha256 : e->oid) + "\"");
  FaultDecision body = faults.decide("file", current_target, req.method == "HEAD", true);
  if (!body.applied.empty()) {
    std::string all = fd.applied.empty() ? body.applied : fd.applied + "," + body.applied;
    res.set_header("X-Khub-Fault", header_safe(all));
  }
  serve_bytes(req, res, store.revision_dir(r.repo_id, *rev) / r.path, e->size, body);
}

void HubServer::Impl::serve_text(const httplib::Request& req, httplib::Response& res,
                                 const std::string& text) {
  unsigned long long a = 0, b = 0;
  int n = 0;
  std::string range = req.get_header_value("Range");
  if (!range.empty() && std::sscanf(range.c_str(), "bytes=%llu-%llu%n", &a, &b, &n) == 2 &&
      n == static_cast<int>(range.size()) && a <= b && a < text.size()) {
    b = std::min<unsigned long long>(b, text.size() - 1);
    res.status = 206;
    res.set_header("Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                                        std::to_string(text.size()));
    res.set_content(text.substr(a, b - a + 1), "text/plain; charset=utf-8");
    return;
  }
  res.status = 200;
  res.set_content(text, "text/plain; charset=utf-8");
}

void HubServer::Impl::serve_bytes(const httplib::Request& req, httplib::Response& res,
                                  const std::filesystem::path& file, uint64_t size,
                                  const FaultDecision& fd) {
  auto f = std::make_shared<OpenFile>();
  f->fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) {
    send_error(res, 500, "", "cannot open the file");
    return;
  }
  uint64_t first = 0, last = size ? size - 1 : 0;
  if (req.has_header("Range")) {
    std::string range = req.get_header_value("Range");
    unsigned long long a = 0, b = 0;
    int n = 0;
    if (std::sscanf(range.c_str(), "bytes=%llu-%llu%n", &a, &b, &n) == 2 &&
        n == static_cast<int>(range.size())) {
      first = a;
      last = std::min<uint64_t>(b, size ? size - 1 : 0);
    } else if (std::sscanf(range.c_str(), "bytes=%llu-%n", &a, &n) == 1 &&
               n == static_cast<int>(range.size())) {
      first = a;
    } else if (std::sscanf(range.c_str(), "bytes=-%llu%n", &a, &n) == 1 &&
               n == static_cast<int>(range.size())) {
      first = a >= size ? 0 : size - a;
    } else {
      first = size;  // unsupported (e.g. several ranges): refuse below
    }
    if (first >= size || first > last) {
      res.set_header("Content-Range", "bytes */" + std::to_string(size));
      send_error(res, 416, "", "range not satisfiable: " + range);
      return;
    }
    res.status = 206;
    res.set_header("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) +
                                        "/" + std::to_string(size));
  } else {
    res.status = 200;
  }
  uint64_t length = size == 0 ? 0 : last - first + 1;
  uint64_t send_len = length;
  std::optional<FaultRule> body = fd.body;
  if (body && body->action == FaultRule::Action::kTruncate) {
    send_len = std::min<uint64_t>(length, body->bytes);
  }
  uint64_t corrupt_at = UINT64_MAX, drop_at = UINT64_MAX;
  if (body && body->action == FaultRule::Action::kCorrupt) {
    corrupt_at = body->has_bytes ? body->bytes : size / 2;
  }
  if (body && body->action == FaultRule::Action::kDrop) drop_at = body->bytes;
  uint64_t bps = fd.throttle_bps;
  auto stall_ms = std::make_shared<std::atomic<int>>(fd.stall_ms);
  if (send_len == 0) {
    res.set_content("", "application/octet-stream");
    return;
  }
  if (req.method == "HEAD") {
    // httplib sends the length of a provider's content for HEAD but never calls it.
    res.set_content_provider(send_len, "application/octet-stream",
                             [](size_t, size_t, httplib::DataSink&) { return false; });
    return;
  }
  res.set_content_provider(
      send_len, "application/octet-stream",
      [f, first, corrupt_at, drop_at, bps, stall_ms](size_t offset, size_t len,
                                                     httplib::DataSink& sink) {
        if (offset > 0) {
          int ms = stall_ms->exchange(0);
          if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        }
        const size_t kChunk =
            bps ? std::max<size_t>(1024, std::min<size_t>(bps / 10, 1 << 18)) : size_t(1) << 18;
        std::vector<char> buf(std::min(len, kChunk));
        ssize_t n = ::pread(f->fd, buf.data(), buf.size(), first + offset);
        if (n <= 0) return false;
        uint64_t abs = first + offset;
        if (corrupt_at >= abs && corrupt_at < abs + n) buf[corrupt_at - abs] ^= 0x5a;
        if (offset + n > drop_at) {
          // Send what is left before the drop point, then cut the connection.
          size_t keep = drop_at > offset ? drop_at - offset : 0;
          if (keep) sink.write(buf.data(), keep);
          return false;
        }
        if (bps) {
          std::this_thread::sleep_for(std::chrono::duration<double>(double(n) / double(bps)));
        }
        return sink.write(buf.data(), n);
      });
}

}  // namespace khub::serve
