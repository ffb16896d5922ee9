// `khub serve` driven by the official JavaScript Hub client, @huggingface/hub from npm
// (scripts/setup.d/hub-js-client.sh), on loopback: the read API by branch, tag, commit and HEAD,
// the error mapping, and the write API (createRepo, uploadFiles / commit through preupload, the
// LFS batch and the NDJSON commit) with a built kernel that `khub download` then fetches.
// Usage: node js_client_test.mjs KHUB_BINARY   (run from the repository root)
import { spawn, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.resolve(".testdata/hfjs/node_modules/"));
const hub = require("@huggingface/hub");

const KHUB = path.resolve(process.argv[2]);
const WRITE = "hf_js_write_token_1";
const READ = "hf_js_read_token_1";
const REPO = "khub-test/scale";
let passed = 0;
let failed = 0;

function check(cond, what) {
  if (cond) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL: ${what}`);
  }
}

async function expectError(promise, status, what, code) {
  try {
    await promise;
    check(false, `${what}: no error`);
  } catch (e) {
    check(e instanceof hub.HubApiError, `${what}: a HubApiError, got ${e}`);
    check(e.statusCode === status, `${what}: status ${e.statusCode}, expected ${status} (${e.message})`);
    return e;
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "khub-js-"));
let server;
try {
  const khub = (args, env = {}) =>
    execFileSync(KHUB, args, { env: { ...process.env, ...env }, encoding: "utf8" });
  khub(["build", "tests/loader/fixtures/scale", "--out", `${tmp}/built`]);
  khub(["publish", `${tmp}/built`, "--hub", `${tmp}/hub`, "--tag", "v1.0.0"]);
  fs.writeFileSync(`${tmp}/tokens`, `${WRITE} write\n${READ} read\n`);
  fs.mkdirSync(`${tmp}/hub/khub-test/locked/refs/heads`, { recursive: true });
  fs.cpSync(`${tmp}/hub/khub-test/scale`, `${tmp}/hub/khub-test/locked`, { recursive: true });
  fs.writeFileSync(`${tmp}/hub/khub-test/locked/gated`, "");

  server = spawn(KHUB, ["serve", "--root", `${tmp}/hub`, "--port", "0", "--token-file",
    `${tmp}/tokens`, "--log", `${tmp}/serve.log`], { stdio: ["ignore", "pipe", "pipe"] });
  const hubUrl = await new Promise((resolve, reject) => {
    let out = "";
    const onData = (d) => {
      out += d;
      const m = out.match(/listening on (http:\S+)/);
      if (m) resolve(m[1]);
    };
    server.stdout.on("data", onData);
    server.stderr.on("data", onData);
    server.on("exit", () => reject(new Error(`khub serve exited: ${out}`)));
    setTimeout(() => reject(new Error(`khub serve did not start: ${out}`)), 10000);
  });

  // ---- Read ----
  const refs = await (await fetch(`${hubUrl}/api/models/${REPO}/refs`)).json();
  const sha = refs.branches.find((b) => b.name === "main").targetCommit;
  for (const revision of [undefined, "HEAD", "main", "v1", "v1.0.0", sha]) {
    const info = await hub.modelInfo({ name: REPO, hubUrl, revision });
    check(info.name === REPO, `modelInfo@${revision}: name ${info.name}`);
    check(!isNaN(info.updatedAt.getTime()), `modelInfo@${revision}: updatedAt`);
    check(info.private === false && info.gated === false, `modelInfo@${revision}: private/gated`);
  }
  const full = await hub.modelInfo({ name: REPO, hubUrl, additionalFields: ["sha", "filePaths"] });
  check(full.sha === sha, `modelInfo additionalFields sha: ${full.sha}`);
  const variant = fs.readdirSync(`${tmp}/built`)[0];
  const local = fs.readdirSync(`${tmp}/built/${variant}`).map((f) => `build/${variant}/${f}`).sort();
  check(JSON.stringify(full.filePaths.sort()) === JSON.stringify(local), `filePaths ${full.filePaths}`);

  for (const revision of ["main", "v1.0.0", sha, "HEAD"]) {
    const files = [];
    for await (const f of hub.listFiles({ repo: REPO, hubUrl, revision, recursive: true })) files.push(f);
    const names = files.filter((f) => f.type === "file").map((f) => f.path).sort();
    check(JSON.stringify(names) === JSON.stringify(local), `listFiles@${revision}: ${names}`);
    for (const rel of local) {
      check(await hub.fileExists({ repo: REPO, hubUrl, revision, path: rel }), `fileExists ${rel}@${revision}`);
      const blob = await hub.downloadFile({ repo: REPO, hubUrl, revision, path: rel });
      const got = Buffer.from(await blob.arrayBuffer());
      const want = fs.readFileSync(`${tmp}/built/${variant}/${path.basename(rel)}`);
      check(got.equals(want), `downloadFile ${rel}@${revision}: ${got.length} bytes, want ${want.length}`);
    }
  }
  const so = local.find((f) => f.endsWith(".so"));
  const soBytes = fs.readFileSync(`${tmp}/built/${variant}/${path.basename(so)}`);
  const soSha = createHash("sha256").update(soBytes).digest("hex");
  const pointer = await (await hub.downloadFile({ repo: REPO, hubUrl, path: so, raw: true })).text();
  check(pointer.includes(`oid sha256:${soSha}`), `raw of an LFS file is its pointer: ${pointer}`);
  const info = await hub.pathsInfo({ repo: REPO, hubUrl, paths: [so, "build", "nope"], expand: true });
  check(info.length === 2 && info[0].lfs?.oid === soSha && info[1].type === "directory",
    `pathsInfo: ${JSON.stringify(info)}`);
  check(info[0].lastCommit?.id === sha, `pathsInfo lastCommit: ${JSON.stringify(info[0].lastCommit)}`);

  // ---- Errors, as the client maps them ----
  check(!(await hub.fileExists({ repo: REPO, hubUrl, path: "build/none.so" })), "fileExists of a missing file");
  check((await hub.downloadFile({ repo: REPO, hubUrl, path: "build/none.so" })) === null,
    "downloadFile of a missing file is null (EntryNotFound)");
  let e = await expectError(hub.modelInfo({ name: "khub-test/missing", hubUrl }), 404, "missing repo");
  check(e?.message.startsWith("Repository not found"), `missing repo message: ${e?.message}`);
  check(!(await hub.repoExists({ repo: "khub-test/missing", hubUrl })), "repoExists of a missing repo");
  check(await hub.repoExists({ repo: REPO, hubUrl }), "repoExists");
  e = await expectError(hub.modelInfo({ name: REPO, hubUrl, revision: "v9" }), 404, "missing revision");
  check(e?.message.startsWith("Invalid rev id: v9"), `missing revision message: ${e?.message}`);
  const gated = await fetch(`${hubUrl}/api/models/khub-test/locked`);
  check(gated.status === 401 && gated.headers.get("X-Error-Code") === "GatedRepo", `gated: ${gated.status}`);
  check((await hub.modelInfo({ name: "khub-test/locked", hubUrl, accessToken: READ })).name === "khub-test/locked",
    "a gated repo with a token");
  const missing = await fetch(`${hubUrl}/${REPO}/resolve/main/nope.txt`, { method: "HEAD" });
  check(missing.status === 404 && missing.headers.get("X-Error-Code") === "EntryNotFound", "HEAD EntryNotFound");

  // ---- Write: a built kernel through uploadFiles, then `khub download` ----
  const UP = "khub-test/scale-js";
  await expectError(hub.createRepo({ repo: UP, hubUrl, accessToken: READ }), 403, "createRepo with a read token");
  await hub.createRepo({ repo: UP, hubUrl, accessToken: WRITE });
  await expectError(hub.createRepo({ repo: UP, hubUrl, accessToken: WRITE }), 409, "createRepo twice");
  const kernelFiles = local.map((rel) => ({
    path: rel, content: new Blob([fs.readFileSync(`${tmp}/built/${variant}/${path.basename(rel)}`)]),
  }));
  // A corrupted library does not verify against metadata.json: refused, the repo stays as it was.
  const bad = kernelFiles.map((f) => f.path === so ? { path: f.path, content: new Blob([soBytes, "x"]) } : f);
  e = await expectError(hub.uploadFiles({ repo: UP, hubUrl, accessToken: WRITE, branch: "v1", files: bad }),
    400, "uploading a kernel whose digest does not verify");
  check(/digest/.test(e?.message), `refusal names the digest: ${e?.message}`);
  const upRefs = async () => (await (await fetch(`${hubUrl}/api/models/${UP}/refs`,
    { headers: { Authorization: `Bearer ${WRITE}` } })).json());
  check((await upRefs()).branches.length === 0, "a refused commit moves no branch");
  const up = await hub.uploadFiles({ repo: UP, hubUrl, accessToken: WRITE, branch: "v1", files: kernelFiles,
    commitTitle: "Upload scale v1" });
  check(up.commit.oid === sha, `the upload's revision is the local publish's: ${up.commit.oid} vs ${sha}`);
  const after = await upRefs();
  check(after.branches.map((b) => b.name).sort().join() === "main,v1", `branches: ${JSON.stringify(after)}`);
  const commits = [];
  for await (const c of hub.listCommits({ repo: UP, hubUrl, revision: "v1" })) commits.push(c);
  check(commits.length === 1 && commits[0].oid === sha && commits[0].title === "Upload scale v1",
    `listCommits: ${JSON.stringify(commits)}`);
  const dl = JSON.parse(khub(["download", `${UP}@v1`, "--json"], {
    HF_ENDPOINT: hubUrl, HF_TOKEN: READ, KHUB_HUB_PATH: "", LOCAL_KERNELS: "", KERNELS_CACHE: `${tmp}/cache`,
  }))[0];
  for (const rel of local) {
    const got = fs.readFileSync(path.join(dl.path, rel));
    check(got.equals(fs.readFileSync(`${tmp}/built/${variant}/${path.basename(rel)}`)), `khub download ${rel}`);
  }
  // A v2 branch for a version-1 kernel breaks publish's rule.
  e = await expectError(hub.uploadFiles({ repo: UP, hubUrl, accessToken: WRITE, branch: "v2", files: kernelFiles }),
    400, "a version-1 kernel on branch v2");

  // ---- Write: plain files, deletes, branches, parent commits, concurrent commits ----
  const PLAIN = "khub-test/plain-js";
  await hub.createRepo({ repo: PLAIN, hubUrl, accessToken: WRITE });
  const first = await hub.commit({ repo: PLAIN, hubUrl, accessToken: WRITE, title: "first",
    operations: [{ operation: "addOrUpdate", path: "README.md", content: new Blob(["# plain\n"]) },
      { operation: "addOrUpdate", path: "data/blob.bin", content: new Blob([soBytes]) }] });
  await expectError(hub.uploadFiles({ repo: PLAIN, hubUrl, accessToken: READ, files: [{ path: "x", content: new Blob(["x"]) }] }),
    403, "a commit with a read token");
  await expectError(hub.commit({ repo: PLAIN, hubUrl, accessToken: WRITE, title: "stale", parentCommit: "0".repeat(40),
    operations: [{ operation: "addOrUpdate", path: "x", content: new Blob(["x"]) }] }), 412, "a stale parentCommit");
  await hub.createBranch({ repo: PLAIN, hubUrl, accessToken: WRITE, branch: "dev" });
  await expectError(hub.createBranch({ repo: PLAIN, hubUrl, accessToken: WRITE, branch: "dev" }), 409, "createBranch twice");
  const N = 8;
  const results = await Promise.all([...Array(N).keys()].map((i) => hub.uploadFiles({ repo: PLAIN, hubUrl,
    accessToken: WRITE, files: [{ path: `concurrent/${i}.txt`, content: new Blob([`file ${i}\n`]) }] })));
  check(new Set(results.map((r) => r.commit.oid)).size === N, "concurrent commits give distinct revisions");
  const names = [];
  for await (const f of hub.listFiles({ repo: PLAIN, hubUrl, path: "concurrent" })) names.push(f.path);
  check(names.length === N, `every concurrent commit is in main: ${names}`);
  const history = [];
  for await (const c of hub.listCommits({ repo: PLAIN, hubUrl, batchSize: 3 })) history.push(c.oid);
  check(history.length === N + 1 && history.at(-1) === first.commit.oid, `history: ${history.length} entries`);
  await hub.deleteFile({ repo: PLAIN, hubUrl, accessToken: WRITE, path: "data/blob.bin" });
  check(!(await hub.fileExists({ repo: PLAIN, hubUrl, path: "data/blob.bin" })), "deleteFile");
  check(await hub.fileExists({ repo: PLAIN, hubUrl, path: "README.md", revision: "dev" }), "branch dev keeps its files");
  await expectError(hub.deleteFile({ repo: PLAIN, hubUrl, accessToken: WRITE, path: "data/blob.bin" }), 404,
    "deleting a missing file");
  // The kernel's library went through the LFS batch endpoint and its upload link.
  const log = fs.readFileSync(`${tmp}/serve.log`, "utf8");
  check(/"POST \/khub-test\/scale-js\.git\/info\/lfs\/objects\/batch" 200/.test(log), "LFS batch used");
  check(/"PUT \/_khub\/lfs-upload\/[0-9a-f]+" 200/.test(log), "LFS upload link used");
  check(/"POST \/api\/models\/khub-test\/scale-js\/commit\/v1" 200/.test(log), "NDJSON commit used");
} catch (err) {
  failed++;
  console.error(`FAIL: ${err.stack ?? err}`);
} finally {
  if (server) server.kill("SIGTERM");
  if (failed && process.env.KHUB_JS_VERBOSE) console.error(fs.readFileSync(`${tmp}/serve.log`, "utf8"));
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`js client: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
