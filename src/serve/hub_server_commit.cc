// khub serve (hub_server_impl.h). The Hub's own write API, as huggingface_hub's create_commit /
// upload_folder and @huggingface/hub's commit / uploadFiles speak it (docs/hub-http.md): repo
// creation, preupload (which files go through LFS), the git-LFS batch endpoint with basic-transfer
// upload and verify links, the NDJSON commit, and branch and tag creation. Every route needs a
// write token except the upload links, which are capabilities of their own (docs/design.md §6.3).
// Commits become revisions through HubStore::commit, so a kernel repo's commit is checked as
// `khub publish` checks it, and one branch's commits serialize.
#include <httplib.h>

#include <random>

#include "core/error.h"
#include "hub/ref/repo_names.h"
#include "hub/store/content_hash.h"
#include "hub/store/hub_cache.h"
#include "serve/hub_server_impl.h"

namespace khub::serve {

using namespace khub::hub::net;

namespace {

constexpr auto kTicketLifetime = std::chrono::hours(1);

std::string random_hex(size_t bytes) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes * 2; ++i) out += kHex[rng() & 15];
  return out;
}

// The URL prefix of a repo type on the Hub's web side: "" for models, "kernels/" for kernels.
std::string web_prefix(const httplib::Request& req) {
  std::string t = req.target.substr(0, req.target.find('?'));
  for (std::string type : {"kernels", "datasets", "spaces"}) {
    if (t.rfind("/api/" + type + "/", 0) == 0 || t.rfind("/" + type + "/", 0) == 0) {
      return type + "/";
    }
  }
  return "";
}

json parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_object() ? j : json();
}

}  // namespace

std::string request_origin(const httplib::Request& req) {
  std::string host = req.get_header_value("Host");
  return host.empty() ? "" : "http://" + host;
}

bool HubServer::Impl::handle_hub_api(const httplib::Request& req, httplib::Response& res,
                                     const Route& r, const httplib::ContentReader* reader) {
  const std::string& m = req.method;
  bool get = m == "GET" || m == "HEAD";
  if (r.action == "commits" && get) {
    handle_commits(req, res, r);
  } else if (r.action == "paths-info" && m == "POST") {
    handle_paths_info(req, res, r);
  } else if (r.action == "validate-yaml" && m == "POST") {
    handle_validate_yaml(req, res);
  } else if (r.action == "create-repo" && m == "POST") {
    handle_create_repo(req, res);
  } else if (r.action == "hub-preupload" && m == "POST") {
    handle_hub_preupload(req, res, r);
  } else if (r.action == "lfs-batch" && m == "POST") {
    handle_lfs_batch(req, res, r);
  } else if (r.action == "lfs-upload" && m == "PUT" && reader) {
    handle_lfs_upload(res, r, *reader);
  } else if (r.action == "lfs-verify" && m == "POST") {
    handle_lfs_verify(req, res, r);
  } else if (r.action == "hub-commit" && m == "POST") {
    handle_hub_commit(req, res, r);
  } else if ((r.action == "branch" || r.action == "tag") && m == "POST") {
    handle_create_ref(req, res, r);
  } else {
    return false;
  }
  return true;
}

// huggingface_hub asks before committing a README.md. khub serve has no YAML parser and no model
// card schema: it checks only that a front matter block ("---" ... "---") is closed.
void HubServer::Impl::handle_validate_yaml(const httplib::Request& req, httplib::Response& res) {
  json body = parse_object(req.body);
  if (body.is_null() || !body.value("content", json()).is_string()) {
    send_error(res, 400, "", "expected {\"content\": README text, \"repoType\": ...}");
    return;
  }
  std::string text = body["content"];
  bool opened = text.rfind("---\n", 0) == 0 || text.rfind("---\r\n", 0) == 0;
  if (opened && text.find("\n---", 3) == std::string::npos) {
    send_error(res, 400, "", "the YAML front matter of README.md is not closed by a '---' line");
    res.set_content(json({{"error", "unclosed YAML front matter"},
                          {"errors", {{{"message", "the front matter is not closed by '---'"}}}}})
                        .dump(),
                    "application/json");
    return;
  }
  send_json(res, {{"warnings", json::array()}});
}

void HubServer::Impl::handle_create_repo(const httplib::Request& req, httplib::Response& res) {
  if (!check_write(req, res)) return;
  json body = parse_object(req.body);
  if (body.is_null() || !body.value("name", json()).is_string()) {
    send_error(res, 400, "", "expected {\"name\", \"organization\", \"type\", \"private\"}");
    return;
  }
  std::string org =
      body.value("organization", json()).is_string() ? body["organization"].get<std::string>() : "";
  std::string repo = org + "/" + body["name"].get<std::string>();
  if (org.empty() || !is_valid_repo_id(repo)) {
    send_error(res, 400, "",
               "'" + repo + "' is not a repository id: khub serve needs an organization");
    return;
  }
  if (body.contains("files") && !body["files"].is_null()) {
    send_error(res, 400, "", "creating a repo with files is not supported; commit them after");
    return;
  }
  std::string type =
      body.value("type", json()).is_string() ? body["type"].get<std::string>() : "model";
  bool priv = body.value("private", false) || body.value("visibility", json()) == "private";
  std::string url = request_origin(req) + "/" + (type == "model" ? "" : type + "s/") + repo;
  if (!store.create_repo(repo, priv)) {
    res.status = 409;
    res.set_header("X-Error-Message", "You already created this " + type + " repo");
    res.set_content(
        json({{"error", "You already created this " + type + " repo"}, {"url", url}}).dump(),
        "application/json");
    return;
  }
  send_json(res, {{"url", url}, {"name", repo}, {"id", sha256_hex(repo).substr(0, 24)}});
}

void HubServer::Impl::handle_hub_preupload(const httplib::Request& req, httplib::Response& res,
                                           const Route& r) {
  if (!check_write(req, res) || !check_read(req, res, r.repo_id)) return;
  if (truthy(req.get_param_value("create_pr"))) {
    send_error(res, 400, "", "khub serve has no pull requests");
    return;
  }
  json body = parse_object(req.body);
  if (body.is_null() || !body.value("files", json()).is_array()) {
    send_error(res, 400, "", "expected {\"files\": [{\"path\", \"size\", \"sample\"}]}");
    return;
  }
  // The current files of the revision, so that clients skip what is unchanged (oid: the sha256
  // of an LFS file, else its git blob id, as the Hub answers).
  std::shared_ptr<const RevisionIndex> idx;
  if (auto rev = store.resolve(r.repo_id, r.rev)) idx = store.index(r.repo_id, *rev);
  json files = json::array();
  for (const auto& f : body["files"]) {
    if (!f.is_object() || !f.value("path", json()).is_string() ||
        !f.value("size", json()).is_number_unsigned()) {
      send_error(res, 400, "", "each file needs a path and a size");
      return;
    }
    std::string path = f["path"];
    if (!is_safe_repo_path(path)) {
      send_error(res, 400, "", "unsafe file path '" + path + "'");
      return;
    }
    bool lfs = is_lfs_style(path, f["size"].get<uint64_t>());
    json out = {{"path", path}, {"uploadMode", lfs ? "lfs" : "regular"}, {"shouldIgnore", false}};
    if (const IndexedEntry* e = idx ? idx->find(path) : nullptr; e && !e->is_dir) {
      out["oid"] = e->lfs ? e->sha256 : e->oid;
    }
    files.push_back(out);
  }
  json answer = {{"files", files}};
  if (idx) answer["commitOid"] = idx->revision;
  send_json(res, answer);
}

void HubServer::Impl::handle_lfs_batch(const httplib::Request& req, httplib::Response& res,
                                       const Route& r) {
  if (!check_write(req, res) || !check_read(req, res, r.repo_id)) return;
  json body = parse_object(req.body);
  if (body.is_null() || !body.value("objects", json()).is_array()) {
    send_error(res, 422, "", "expected a git-lfs batch request with 'objects'");
    return;
  }
  if (body.value("operation", "") != "upload") {
    send_error(res, 422, "",
               "khub serve's LFS batch endpoint takes uploads; download with /resolve/");
    return;
  }
  json objects = json::array();
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(tickets_mu);
  for (auto it = tickets.begin(); it != tickets.end();) {
    it = it->second.expires < now ? tickets.erase(it) : std::next(it);
  }
  for (const auto& o : body["objects"]) {
    std::string oid = o.is_object() && o.value("oid", json()).is_string() ? o["oid"] : "";
    if (!is_hex(oid, 64) || !o.value("size", json()).is_number_unsigned()) {
      objects.push_back(
          {{"oid", oid},
           {"error", {{"code", 422}, {"message", "an object needs a sha256 oid and a size"}}}});
      continue;
    }
    uint64_t size = o["size"];
    json obj = {{"oid", oid}, {"size", size}, {"authenticated", true}};
    if (!store.has_staged_blob(oid, size)) {
      std::string ticket = random_hex(24);
      tickets[ticket] = {oid, size, now + kTicketLifetime};
      std::string base = request_origin(req) + "/_khub/";
      obj["actions"] = {{"upload",
                         {{"href", base + "lfs-upload/" + ticket},
                          {"header", json::object()},
                          {"expires_in", 3600}}},
                        {"verify",
                         {{"href", base + "lfs-verify/" + ticket},
                          {"header", json::object()},
                          {"expires_in", 3600}}}};
    }
    objects.push_back(obj);
  }
  res.status = 200;
  res.set_content(
      json({{"transfer", "basic"}, {"objects", objects}, {"hash_algo", "sha256"}}).dump(),
      "application/vnd.git-lfs+json");
}

void HubServer::Impl::handle_lfs_upload(httplib::Response& res, const Route& r,
                                        const httplib::ContentReader& reader) {
  LfsTicket t;
  {
    std::lock_guard<std::mutex> lock(tickets_mu);
    auto it = tickets.find(r.rev);
    if (it == tickets.end() || it->second.expires < std::chrono::steady_clock::now()) {
      send_error(res, 403, "", "unknown or expired upload link (ask the LFS batch endpoint again)");
      return;
    }
    t = it->second;
  }
  if (!receive_blob(reader, t.sha256, t.size, res)) return;
  res.status = 200;
  res.set_content("", "text/plain");
}

void HubServer::Impl::handle_lfs_verify(const httplib::Request& req, httplib::Response& res,
                                        const Route& r) {
  LfsTicket t;
  {
    std::lock_guard<std::mutex> lock(tickets_mu);
    auto it = tickets.find(r.rev);
    if (it == tickets.end()) {
      send_error(res, 403, "", "unknown or expired verify link");
      return;
    }
    t = it->second;
  }
  json body = parse_object(req.body);
  if (body.is_null() || body.value("oid", "") != t.sha256 || body.value("size", json()) != t.size) {
    send_error(res, 422, "", "the verify request names another object than its link");
    return;
  }
  if (!store.has_staged_blob(t.sha256, t.size)) {
    send_error(res, 404, "", "object " + t.sha256 + " was not uploaded");
    return;
  }
  send_json(res, {{"success", true}});
}

void HubServer::Impl::handle_hub_commit(const httplib::Request& req, httplib::Response& res,
                                        const Route& r) {
  if (!check_write(req, res) || !check_read(req, res, r.repo_id)) return;
  if (truthy(req.get_param_value("create_pr"))) {
    send_error(res, 400, "", "khub serve has no pull requests");
    return;
  }
  std::string branch = r.rev.rfind("refs/heads/", 0) == 0 ? r.rev.substr(11) : r.rev;
  if (branch == "HEAD") branch = store.default_branch(r.repo_id).value_or("main");
  if (!store.resolve(r.repo_id, "refs/heads/" + branch) && store.resolve(r.repo_id, branch)) {
    send_error(res, 400, "",
               "Invalid rev id: " + branch + " is not a branch (commits go to a branch)");
    return;
  }
  CommitRequest c;
  c.branch = c.base_branch = branch;
  c.require_branch = true;
  c.parent_mismatch_status = 412;
  bool header = false;
  size_t line_no = 0;
  auto bad = [&](const std::string& why) {
    send_error(res, 400, "", "commit line " + std::to_string(line_no) + ": " + why);
  };
  for (size_t start = 0; start < req.body.size();) {
    size_t end = req.body.find('\n', start);
    if (end == std::string::npos) end = req.body.size();
    std::string line = req.body.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = parse_object(line);
    if (j.is_null() || !j.value("key", json()).is_string() ||
        !j.value("value", json()).is_object()) {
      return bad("expected {\"key\": ..., \"value\": {...}}");
    }
    const std::string key = j["key"];
    const json& v = j["value"];
    if (key == "header") {
      header = true;
      c.title = v.value("summary", json()).is_string() ? v["summary"].get<std::string>() : "";
      c.message =
          v.value("description", json()).is_string() ? v["description"].get<std::string>() : "";
      if (v.value("parentCommit", json()).is_string())
        c.parent = v["parentCommit"].get<std::string>();
      continue;
    }
    if (!v.value("path", json()).is_string()) return bad("'" + key + "' needs a path");
    std::string path = v["path"];
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (!is_safe_repo_path(path)) return bad("unsafe path '" + path + "'");
    if (key == "file") {
      if (v.value("encoding", "base64") != "base64" || !v.value("content", json()).is_string()) {
        return bad("a file needs base64 'content'");
      }
      std::string bytes;
      try {
        bytes = base64_decode(v["content"].get<std::string>());
      } catch (const Error& e) {
        return bad("the content of '" + path + "' is not base64: " + e.what());
      }
      std::string sha = sha256_hex(bytes);
      if (!store.has_staged_blob(sha, bytes.size())) {
        std::filesystem::path tmp = store.upload_temp_path();
        write_file_atomic(tmp, bytes);
        std::filesystem::rename(tmp, store.staged_blob(sha));
      }
      c.files.push_back({path, sha, bytes.size(), false});
    } else if (key == "lfsFile") {
      if (v.value("algo", "sha256") != "sha256" || !v.value("oid", json()).is_string() ||
          !v.value("size", json()).is_number_unsigned()) {
        return bad("an lfsFile needs a sha256 'oid' and a 'size'");
      }
      c.files.push_back({path, v["oid"].get<std::string>(), v["size"].get<uint64_t>(), false});
    } else if (key == "deletedFile" || key == "deletedFolder") {
      c.deletes.push_back(path);
    } else {
      return bad("'" + key + "' operations are not supported by khub serve");
    }
  }
  if (!header) {
    send_error(res, 400, "", "the commit has no header line (key \"header\" with a summary)");
    return;
  }
  CommitOutcome out = store.commit(r.repo_id, c);
  std::string url = request_origin(req) + "/" + web_prefix(req) + r.repo_id;
  send_json(res, {{"success", true},
                  {"commitOid", out.revision},
                  {"commitUrl", url + "/commit/" + out.revision},
                  {"hookOutput", ""}});
}

void HubServer::Impl::handle_create_ref(const httplib::Request& req, httplib::Response& res,
                                        const Route& r) {
  if (!check_write(req, res) || !check_read(req, res, r.repo_id)) return;
  json body = req.body.empty() ? json::object() : parse_object(req.body);
  if (body.is_null()) {
    send_error(res, 400, "", "expected a JSON object");
    return;
  }
  if (r.action == "branch") {
    std::string revision;
    if (!body.value("emptyBranch", false)) {
      std::string from = body.value("startingPoint", json()).is_string()
                             ? body["startingPoint"].get<std::string>()
                             : "HEAD";
      auto rev = store.resolve(r.repo_id, from);
      if (!rev && from != "HEAD") {
        send_error(res, 404, "RevisionNotFound", "Invalid rev id: " + from);
        return;
      }
      revision = rev.value_or("");  // a repo without any branch yet: an empty branch
    }
    store.create_branch(r.repo_id, r.rev, revision, body.value("overwrite", false));
    send_json(res, {{"name", r.rev}});
    return;
  }
  if (!body.value("tag", json()).is_string()) {
    send_error(res, 400, "", "expected {\"tag\": NAME, \"message\": ...}");
    return;
  }
  auto rev = revision_of(res, r.repo_id, r.rev);
  if (!rev) return;
  store.create_tag(r.repo_id, body["tag"].get<std::string>(), *rev);
  send_json(res, {{"name", body["tag"]}, {"targetCommit", *rev}});
}

}  // namespace khub::serve
