#!/usr/bin/env python3
"""Checks that the unchanged Python `huggingface_hub` client downloads from `khub serve`.

Run on the GPU machine (where huggingface_hub is installed; no internet needed) from the repo
root after a build:

    python3 scripts/golden/hf_hub_client_check.py --khub build/bin/khub

It writes a small local hub (the directory format of docs/design.md §6, with revision ids computed here
as git tree ids by an implementation independent of khub's), starts `khub serve` on a loopback
port with a page size of 3 (so every tree listing paginates), and then uses huggingface_hub's own
snapshot_download, hf_hub_download, HfApi.list_repo_refs / list_repo_tree / repo_info and
get_hf_file_metadata against it: kernel and model repo types, branches, tags and commits, allow
patterns, LFS-style files (302 + X-Linked-Etag) and plain ones, a private repo with and without a
token, a missing revision. It then checks that the two clients share one cache: a snapshot that
`khub download` wrote is read by huggingface_hub with local_files_only=True, and a snapshot that
huggingface_hub wrote is read by `khub download` with HF_HUB_OFFLINE=1.

It then uploads through the Hub's commit API as `kernels upload` / kernel-builder do:
create_repo (twice, exist_ok), create_branch, upload_folder of a kernel that `khub build` built
(LFS batch, basic transfer, verify), whose revision must equal what a local `khub publish` of the
same folder gives and which `khub download` then fetches over HTTP; create_commit with additions
and deletions, create_tag, list_repo_commits, get_paths_info, file_exists, a stale parent_commit,
a tampered kernel (refused, refs unchanged), a read-only token (refused), and concurrent commits to
one branch (all kept, serialized). Usage with an already running server instead of its own:

    python3 scripts/golden/hf_hub_client_check.py --khub build/bin/khub \
        --url http://127.0.0.1:PORT --token WRITE_TOKEN      (uploads only; the hub must be writable)

Prints "OK" and exits 0, or prints "FAIL: <what>" and exits 1.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

# khub serve speaks git-LFS uploads, not Xet: read by huggingface_hub when it is imported.
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

REPO = "khub-community/rmsnorm"
SECRET = "khub-community/secret"
VARIANT = "khub1-cpu-x86_64-linux"
TOKEN = "golden-read-token-123"
WRITE_TOKEN = "golden-write-token-456"
UPLOADED = "khub-test/scale-uploaded"
PLAIN = "khub-community/plain-uploaded"


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git_tree_id(path: str) -> str:
    entries = []
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p):
            entries.append((name.encode() + b"/", b"40000", name.encode(),
                            bytes.fromhex(git_tree_id(p))))
        else:
            mode = b"100755" if os.stat(p).st_mode & 0o100 else b"100644"
            with open(p, "rb") as f:
                blob = git_blob_id(f.read())
            entries.append((name.encode(), mode, name.encode(), bytes.fromhex(blob)))
    entries.sort(key=lambda e: e[0])
    body = b"".join(mode + b" " + name + b"\0" + oid for _, mode, name, oid in entries)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def write_revision(hub, repo_id, files, branches=(), tags=(), private=False):
    """files: {path: bytes}. Returns the revision id (git tree id of the tree)."""
    repo = os.path.join(hub, repo_id)
    tmp = os.path.join(repo, "revisions", ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    for path, data in files.items():
        full = os.path.join(tmp, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        os.chmod(full, 0o755 if path.endswith(".so") else 0o644)
    rev = git_tree_id(tmp)
    final = os.path.join(repo, "revisions", rev)
    if os.path.exists(final):
        shutil.rmtree(tmp)
    else:
        os.rename(tmp, final)
    for kind, names in (("heads", branches), ("tags", tags)):
        os.makedirs(os.path.join(repo, "refs", kind), exist_ok=True)
        for n in names:
            with open(os.path.join(repo, "refs", kind, n), "w") as f:
                f.write(rev + "\n")
    if private:
        open(os.path.join(repo, "private"), "w").close()
    return rev


def variant(seed, lib_size):
    rng = random.Random(seed)
    lib = bytes(rng.getrandbits(8) for _ in range(lib_size))
    layers = json.dumps({"layers": ["RMSNorm"], "seed": seed}).encode()
    import base64
    digest = {name: base64.b64encode(hashlib.sha256(data).digest()).decode()
              for name, data in (("librmsnorm.so", lib), ("layers.json", layers))}
    meta = json.dumps({"name": "rmsnorm", "version": 1,
                       "digest": {"algorithm": "sha256", "files": digest}}).encode()
    d = f"build/{VARIANT}/"
    return {d + "librmsnorm.so": lib, d + "layers.json": layers, d + "metadata.json": meta}


def start_server(khub, hub, tokens, log):
    proc = subprocess.Popen(
        [khub, "serve", "--root", hub, "--port", "0", "--token-file", tokens, "--page-size", "3",
         "--log", log],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise CheckFailed(f"khub serve did not start: {line!r} {proc.stderr.read()}")
    url = line.split("listening on ")[1].split()[0]
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise CheckFailed("khub serve does not answer /health")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def run_checks(khub, work):
    hub = os.path.join(work, "hub")
    v1_files = dict(variant(1, 3_000_000))
    v1_files["README.md"] = b"# rmsnorm\n"
    v1_files["build/torch-universal/rmsnorm/__init__.py"] = b"# python shim\n"
    rev1 = write_revision(hub, REPO, v1_files, branches=["v1"], tags=["v1.0.0"])
    v2_files = dict(variant(2, 100_000))
    v2_files["README.md"] = b"# rmsnorm v2\n"
    rev2 = write_revision(hub, REPO, v2_files, branches=["v2", "main"], tags=["v2.0.0"])
    secret_rev = write_revision(hub, SECRET, variant(3, 1000), branches=["main"], private=True)
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{TOKEN} read\n{WRITE_TOKEN} write\n")
    log = os.path.join(work, "serve.log")
    proc, url = start_server(khub, hub, tokens, log)
    try:
        if os.environ.get("KHUB_GOLDEN_SETUP_ONLY"):
            return url
        try:
            import huggingface_hub as hh
            from huggingface_hub import (HfApi, get_hf_file_metadata, hf_hub_download,
                                         snapshot_download)
        except ImportError as e:
            raise CheckFailed(f"huggingface_hub is not installed here ({e})")
        print(f"huggingface_hub {hh.__version__} against {url}", flush=True)
        cache = os.path.join(work, "hf-cache")
        api = HfApi(endpoint=url)

        # Refs, info and (paginated) tree listings, for the kernel repo type.
        refs = api.list_repo_refs(REPO, repo_type="kernel")
        branches = {b.name: b.target_commit for b in refs.branches}
        tags = {t.name: t.target_commit for t in refs.tags}
        check(branches == {"v1": rev1, "v2": rev2, "main": rev2}, f"branches {branches}")
        check(tags == {"v1.0.0": rev1, "v2.0.0": rev2}, f"tags {tags}")
        info = api.repo_info(REPO, repo_type="kernel", revision="v1")
        check(info.sha == rev1, f"repo_info sha {info.sha} != {rev1}")
        tree = [f.path for f in api.list_repo_tree(REPO, repo_type="kernel", revision=rev1,
                                                   recursive=True)
                if f.__class__.__name__ == "RepoFile"]
        check(sorted(tree) == sorted(v1_files), f"tree listing {sorted(tree)}")
        builds = sorted(f.path for f in api.list_repo_tree(REPO, path_in_repo="build",
                                                           repo_type="kernel", revision="v1"))
        check(builds == ["build/" + VARIANT, "build/torch-universal"], f"build/ listing {builds}")

        # File metadata as hf_hub_download sees it: plain file and LFS-style file.
        # The resolve URL of a kernel repo, as huggingface_hub builds it (kernels/ prefix).
        def resolve_url(path, rev):
            return f"{url}/kernels/{REPO}/resolve/{rev}/{path}"

        meta = get_hf_file_metadata(resolve_url("README.md", "v1"))
        check(meta.commit_hash == rev1, f"X-Repo-Commit {meta.commit_hash}")
        check(meta.etag == git_blob_id(v1_files["README.md"]), f"README etag {meta.etag}")
        lib_path = f"build/{VARIANT}/librmsnorm.so"
        meta = get_hf_file_metadata(resolve_url(lib_path, "v1"))
        check(meta.etag == hashlib.sha256(v1_files[lib_path]).hexdigest(), f"LFS etag {meta.etag}")
        check(meta.size == len(v1_files[lib_path]), f"LFS size {meta.size}")

        # snapshot_download of a kernel repo at a branch: every file, the HF cache layout.
        snap = snapshot_download(REPO, repo_type="kernel", revision="v1", endpoint=url,
                                 cache_dir=cache)
        check(snap.endswith(os.path.join("kernels--khub-community--rmsnorm", "snapshots", rev1)),
              f"snapshot path {snap}")
        for path, data in v1_files.items():
            check(read(os.path.join(snap, path)) == data, f"content of {path}")
        repo_cache = os.path.join(cache, "kernels--khub-community--rmsnorm")
        check(read(os.path.join(repo_cache, "refs", "v1")).decode() == rev1, "refs/v1")
        blobs = set(os.listdir(os.path.join(repo_cache, "blobs")))
        check(hashlib.sha256(v1_files[lib_path]).hexdigest() in blobs, "LFS blob named by sha256")
        check(git_blob_id(v1_files["README.md"]) in blobs, "plain blob named by git blob id")

        # Only one variant (allow_patterns, as HF's kernels does), at a tag, as a model repo.
        part = snapshot_download(REPO, revision="v2.0.0", endpoint=url, cache_dir=cache,
                                 allow_patterns=[f"build/{VARIANT}/*"])
        check(part.endswith(os.path.join("models--khub-community--rmsnorm", "snapshots", rev2)),
              f"model-type snapshot path {part}")
        got = sorted(os.path.relpath(os.path.join(d, f), part)
                     for d, _, fs in os.walk(part) for f in fs)
        want = sorted(p for p in v2_files if p.startswith(f"build/{VARIANT}/"))
        check(got == want, f"allow_patterns fetched {got}")

        # hf_hub_download by commit and by tag.
        p = hf_hub_download(REPO, lib_path, repo_type="kernel", revision=rev1, endpoint=url,
                            cache_dir=os.path.join(work, "hf-cache-2"))
        check(read(p) == v1_files[lib_path], "hf_hub_download LFS file by commit")
        p = hf_hub_download(REPO, "README.md", revision="v2.0.0", endpoint=url,
                            cache_dir=os.path.join(work, "hf-cache-2"))
        check(read(p) == v2_files["README.md"], "hf_hub_download plain file by tag")

        # Missing revision and private repo.
        try:
            snapshot_download(REPO, repo_type="kernel", revision="v9", endpoint=url,
                              cache_dir=os.path.join(work, "hf-cache-3"))
            raise CheckFailed("a missing revision was downloaded")
        except hh.errors.RevisionNotFoundError:
            pass
        try:
            snapshot_download(SECRET, repo_type="kernel", endpoint=url, token=False,
                              cache_dir=os.path.join(work, "hf-cache-3"))
            raise CheckFailed("a private repo was downloaded without a token")
        except (hh.errors.RepositoryNotFoundError, hh.errors.HfHubHTTPError,
                hh.errors.LocalEntryNotFoundError):
            pass
        s = snapshot_download(SECRET, repo_type="kernel", endpoint=url, token=TOKEN,
                              cache_dir=os.path.join(work, "hf-cache-3"))
        check(s.endswith(secret_rev), f"private snapshot {s}")

        # One cache, two clients: khub writes, Python reads offline ...
        khub_cache = os.path.join(work, "khub-cache")
        env = dict(os.environ, HF_ENDPOINT=url, KERNELS_CACHE=khub_cache, HF_TOKEN="")
        env.pop("HF_HUB_OFFLINE", None)
        subprocess.run([khub, "download", REPO + "@v1", "--all-variants"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        s = snapshot_download(REPO, repo_type="kernel", revision="v1", cache_dir=khub_cache,
                              local_files_only=True)
        check(s.endswith(rev1), f"khub-written snapshot read by Python: {s}")
        for path, data in v1_files.items():
            check(read(os.path.join(s, path)) == data, f"khub-written {path}")
        p = hf_hub_download(REPO, lib_path, repo_type="kernel", revision="v1",
                            cache_dir=khub_cache, local_files_only=True)
        check(read(p) == v1_files[lib_path], "khub-written file via hf_hub_download")
        # ... and Python writes, khub reads with HF_HUB_OFFLINE=1 (no request reaches the server).
        before = len(open(log).read().splitlines())
        env = dict(os.environ, HF_ENDPOINT=url, KERNELS_CACHE=cache, HF_HUB_OFFLINE="1")
        out = subprocess.run([khub, "download", REPO + "@v1", "--variant", VARIANT, "--json"],
                             env=env, check=True, capture_output=True, text=True).stdout
        got = json.loads(out)[0]
        check(got["commit"] == rev1 and got["downloaded"] == 0, f"khub offline read: {got}")
        time.sleep(0.2)
        after = len(open(log).read().splitlines())
        check(after == before, "khub made requests with HF_HUB_OFFLINE=1")

        ua = open(log).read()
        check("huggingface_hub" in ua or "python" in ua.lower(), "no Python client in the log")
        upload_checks(khub, work, url, WRITE_TOKEN, TOKEN)
        return url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def upload_checks(khub, work, url, write_token, read_token=None, suffix=""):
    """The Hub's write API through huggingface_hub, as HF's kernel tools use it. `suffix` makes
    the repo names unique on a server that already has them."""
    uploaded, plain = UPLOADED + suffix, PLAIN + suffix
    import threading

    import huggingface_hub as hh
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    api = HfApi(endpoint=url, token=write_token)
    built = os.path.join(work, "built")
    subprocess.run([khub, "build", "tests/loader/fixtures/scale", "--out", built], check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run([khub, "publish", built, "--hub", os.path.join(work, "local-hub")],
                         check=True, capture_output=True, text=True).stdout
    local_rev = out.split("@")[1].split()[0]
    variant_name = os.listdir(built)[0]

    api.create_repo(uploaded, repo_type="kernel", exist_ok=True)
    api.create_repo(uploaded, repo_type="kernel", exist_ok=True)  # 409, accepted by exist_ok
    api.create_branch(uploaded, branch="v1", repo_type="kernel", exist_ok=True)
    # A tampered library: the digest in metadata.json no longer matches; refused, refs unchanged.
    tampered = os.path.join(work, "tampered")
    shutil.copytree(built, tampered)
    lib = next(f for f in os.listdir(os.path.join(tampered, variant_name)) if f.endswith(".so"))
    with open(os.path.join(tampered, variant_name, lib), "ab") as f:
        f.write(b"tampered")
    before = {b.name: b.target_commit for b in
              api.list_repo_refs(uploaded, repo_type="kernel").branches}
    try:
        api.upload_folder(repo_id=uploaded, repo_type="kernel", folder_path=tampered,
                          path_in_repo="build", revision="v1", commit_message="tampered")
        raise CheckFailed("a kernel whose digest does not verify was accepted")
    except hh.errors.HfHubHTTPError as e:
        check(e.response.status_code == 400 and "digest" in str(e), f"tampered upload: {e}")
    after = {b.name: b.target_commit for b in
             api.list_repo_refs(uploaded, repo_type="kernel").branches}
    check(after == before, f"a refused commit moved refs: {before} -> {after}")

    info = api.upload_folder(repo_id=uploaded, repo_type="kernel", folder_path=built,
                             path_in_repo="build", revision="v1", commit_message="scale v1")
    check(info.oid == local_rev, f"upload_folder revision {info.oid} != local publish {local_rev}")
    branches = {b.name: b.target_commit for b in
                api.list_repo_refs(uploaded, repo_type="kernel").branches}
    check(branches.get("v1") == local_rev and branches.get("main") == local_rev,
          f"branches after the upload: {branches}")
    commits = api.list_repo_commits(uploaded, repo_type="kernel", revision="v1")
    check(commits[0].commit_id == local_rev and commits[0].title == "scale v1",
          f"list_repo_commits: {commits}")
    api.create_tag(uploaded, tag="v1.0.0", revision="v1", repo_type="kernel")
    try:
        api.create_tag(uploaded, tag="v1.0.0", revision="v1", repo_type="kernel")
        raise CheckFailed("a tag was created twice")
    except hh.errors.HfHubHTTPError as e:
        check(e.response.status_code == 409, f"second create_tag: {e}")
    lib_path = f"build/{variant_name}/{lib}"
    paths = api.get_paths_info(uploaded, [lib_path, "nope"], repo_type="kernel",
                               revision="v1.0.0", expand=True)
    check(len(paths) == 1 and paths[0].lfs is not None and paths[0].last_commit is not None
          and paths[0].last_commit.oid == local_rev, f"get_paths_info: {paths}")
    check(api.file_exists(uploaded, lib_path, repo_type="kernel", revision="HEAD"), "file_exists")
    check(not api.file_exists(uploaded, "nope.txt", repo_type="kernel"), "file_exists of a missing file")
    check(api.repo_info(uploaded, repo_type="kernel", revision="HEAD").sha == local_rev,
          "repo_info at HEAD")

    env = dict(os.environ, HF_ENDPOINT=url, KERNELS_CACHE=os.path.join(work, "upload-cache"),
               HF_TOKEN=write_token, KHUB_HUB_PATH="", LOCAL_KERNELS="")
    env.pop("HF_HUB_OFFLINE", None)
    got = json.loads(subprocess.run([khub, "download", uploaded + "@v1", "--json"], env=env,
                                    check=True, capture_output=True, text=True).stdout)[0]
    check(got["commit"] == local_rev, f"khub download of the upload: {got}")
    for f in os.listdir(os.path.join(built, variant_name)):
        check(read(os.path.join(got["path"], "build", variant_name, f)) ==
              read(os.path.join(built, variant_name, f)), f"khub download of build/{f}")

    # create_commit on a plain repo: additions, deletions, a stale parent, a read-only token.
    api.create_repo(plain, exist_ok=True)
    first = api.create_commit(plain, commit_message="first", operations=[
        CommitOperationAdd("README.md", b"# plain\n"),
        CommitOperationAdd("data/weights.bin", os.urandom(20000)),
        CommitOperationAdd("data/notes.txt", b"notes\n")])
    api.create_commit(plain, commit_message="delete", parent_commit=first.oid, operations=[
        CommitOperationDelete("data/weights.bin"), CommitOperationAdd("more.txt", b"more\n")])
    files = sorted(api.list_repo_files(plain))
    check(files == ["README.md", "data/notes.txt", "more.txt"], f"after create_commit: {files}")
    try:
        api.create_commit(plain, commit_message="stale", parent_commit=first.oid,
                          operations=[CommitOperationAdd("x.txt", b"x")])
        raise CheckFailed("a commit on a stale parent was accepted")
    except hh.errors.HfHubHTTPError as e:
        check(e.response.status_code == 412, f"stale parent: {e}")
    if read_token:
        try:
            HfApi(endpoint=url, token=read_token).upload_file(
                repo_id=plain, path_or_fileobj=b"x", path_in_repo="x.txt")
            raise CheckFailed("a read-only token committed")
        except hh.errors.HfHubHTTPError as e:
            check(e.response.status_code == 403, f"read-only token: {e}")
    try:
        hh.hf_hub_download(plain, "missing.txt", endpoint=url, token=write_token,
                           cache_dir=os.path.join(work, "hf-cache-4"))
        raise CheckFailed("a missing file was downloaded")
    except hh.errors.EntryNotFoundError:
        pass
    try:
        api.repo_info("khub-community/no-such-repo")
        raise CheckFailed("a missing repo has info")
    except hh.errors.RepositoryNotFoundError:
        pass

    # Concurrent commits to one branch: each lands on the one before, none is lost.
    errors = []

    def one(i):
        try:
            api.create_commit(plain, commit_message=f"note {i}",
                              operations=[CommitOperationAdd(f"notes/{i}.txt", b"%d\n" % i)])
        except Exception as e:  # collected and reported below
            errors.append(f"{i}: {e}")
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"concurrent commits failed: {errors}")
    notes = [f for f in api.list_repo_files(plain) if f.startswith("notes/")]
    check(len(notes) == 8, f"concurrent commits kept {len(notes)} of 8 files")
    check(len(api.list_repo_commits(plain)) == 10, "history of the plain repo")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--khub", default="build/bin/khub", help="path to the khub binary")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--url", help="check uploads against this running khub serve instead")
    ap.add_argument("--token", help="a write token of --url's server")
    args = ap.parse_args()
    if args.url and not args.token:
        print("FAIL: --url needs --token (a write token of that server)")
        return 1
    khub = os.path.abspath(args.khub)
    if not os.access(khub, os.X_OK):
        print(f"FAIL: {khub} is not an executable (build first)")
        return 1
    work = tempfile.mkdtemp(prefix="khub-golden-hub-")
    try:
        if args.url:
            upload_checks(khub, work, args.url.rstrip("/"), args.token,
                          suffix="-" + os.urandom(4).hex())
        else:
            run_checks(khub, work)
    except CheckFailed as e:
        print(f"FAIL: {e}")
        return 1
    except Exception as e:  # an unexpected exception from either client is a failure too
        print(f"FAIL: {type(e).__name__}: {e}")
        return 1
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
