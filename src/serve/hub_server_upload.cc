// khub serve (hub_server_impl.h). The upload routes: preupload, blob uploads and commits that build
// a revision from them.
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

void HubServer::Impl::handle_preupload(const httplib::Request& req, httplib::Response& res,
                                       const Route& r) {
  if (!check_write(req, res)) return;
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.contains("files") || !body["files"].is_array()) {
    send_error(res, 400, "", "expected {\"files\": [{\"path\", \"sha256\", \"size\"}]}");
    return;
  }
  json missing = json::array();
  std::set<std::string> seen;
  for (const auto& f : body["files"]) {
    if (!f.contains("sha256") || !f["sha256"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned()) {
      send_error(res, 400, "", "each file needs a sha256 and a size");
      return;
    }
    std::string sha = f["sha256"].get<std::string>();
    if (!is_hex(sha, 64)) {
      send_error(res, 400, "", "'" + sha + "' is not a sha256");
      return;
    }
    if (!store.has_staged_blob(sha, f["size"].get<uint64_t>()) && seen.insert(sha).second) {
      missing.push_back(sha);
    }
  }
  send_json(res, {{"missing", missing}});
}

bool HubServer::Impl::receive_blob(const httplib::ContentReader& reader, const std::string& sha256,
                                   std::optional<uint64_t> expected, httplib::Response& res) {
  if (!is_hex(sha256, 64)) {
    send_error(res, 400, "", "'" + sha256 + "' is not a sha256");
    return false;
  }
  std::filesystem::path tmp = store.upload_temp_path();
  OpenFile out;
  out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out.fd < 0) {
    send_error(res, 500, "", "cannot stage the upload");
    return false;
  }
  Hasher h(HashAlgo::kSha256);
  uint64_t size = 0;
  bool ok = true;
  bool complete = reader([&](const char* data, size_t n) {
    h.update(data, n);
    size += n;
    for (size_t done = 0; done < n;) {
      ssize_t w = ::write(out.fd, data + done, n - done);
      if (w <= 0) {
        ok = false;
        return false;
      }
      done += w;
    }
    return true;
  });
  ::fsync(out.fd);
  std::string got = h.finish_hex();
  // Nothing of a failed or interrupted upload stays: the blob appears whole or not at all.
  auto refuse = [&](int status, const std::string& why) {
    ::unlink(tmp.c_str());
    send_error(res, status, "", why);
    return false;
  };
  if (!ok) return refuse(500, "cannot write the upload");
  if (!complete) return refuse(400, "the upload of " + sha256 + " was interrupted");
  if (expected && size != *expected) {
    return refuse(
        400, "the upload has " + std::to_string(size) + " bytes, not " + std::to_string(*expected));
  }
  if (got != sha256) {
    return refuse(400, "the uploaded bytes have sha256 " + got + ", not " + sha256);
  }
  if (::rename(tmp.c_str(), store.staged_blob(sha256).c_str()) != 0) {
    return refuse(500, "cannot store the upload");
  }
  return true;
}

void HubServer::Impl::handle_blob(const httplib::Request& req, httplib::Response& res,
                                  const Route& r, const httplib::ContentReader& reader) {
  if (!check_write(req, res)) return;
  if (!receive_blob(reader, r.rev, std::nullopt, res)) return;
  res.status = 201;
  res.set_content(
      json({{"sha256", r.rev}, {"size", std::filesystem::file_size(store.staged_blob(r.rev))}})
          .dump(),
      "application/json");
}

void HubServer::Impl::handle_commit(const httplib::Request& req, httplib::Response& res,
                                    const Route& r) {
  if (!check_write(req, res)) return;
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("files") ||
      !body["files"].is_array()) {
    send_error(res, 400, "", "expected a JSON object with a 'files' list");
    return;
  }
  CommitRequest c;
  try {
    for (const auto& f : body["files"]) {
      c.files.push_back({f.at("path").get<std::string>(), f.at("sha256").get<std::string>(),
                         f.at("size").get<uint64_t>(), f.value("executable", false)});
    }
    c.branch = body.value("branch", std::string());
    if (body.contains("tags")) c.tags = body["tags"].get<std::vector<std::string>>();
    if (body.contains("extra_branches")) {
      c.extra_branches = body["extra_branches"].get<std::vector<std::string>>();
    }
    c.base_branch = body.value("base_branch", std::string());
    if (body.contains("replace")) c.replace = body["replace"].get<std::vector<std::string>>();
    c.create_repo = body.value("create_repo", false);
    c.is_private = body.value("private", false);
    if (body.contains("parent") && body["parent"].is_string()) {
      c.parent = body["parent"].get<std::string>();
    }
  } catch (const json::exception& e) {
    send_error(res, 400, "", std::string("malformed commit: ") + e.what());
    return;
  }
  if (store.repo_exists(r.repo_id) && store.is_private(r.repo_id)) {
    // Writers are token holders, so they may see private repos.
  }
  CommitOutcome out = store.commit(r.repo_id, c);
  send_json(res, {{"commit", out.revision},
                  {"commitOid", out.revision},
                  {"new_revision", out.new_revision},
                  {"created_repo", out.created_repo},
                  {"branch", c.branch},
                  {"tags", c.tags}});
}

}  // namespace khub::serve
