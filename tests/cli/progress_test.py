#!/usr/bin/env python3
"""Progress on long work is for terminals only (docs/cli.md, "Progress").

Usage: progress_test.py KHUB HUB_DIR

For init-model, train and download (from a `khub serve` of the bundled hub): with stderr a pipe
nothing but results reaches it; with stderr a pseudo-terminal the progress line appears (download:
one line per file fetched and the total with rate); --quiet silences it there; --json output on
stdout never carries progress.
"""
import json
import os
import pty
import re
import select
import subprocess
import sys
import tempfile

KHUB, HUB = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(args, tty, env=None):
    """Runs khub with stdout a pipe and stderr a pipe or a pseudo-terminal; returns rc, out, err."""
    if not tty:
        p = subprocess.run([KHUB, *args], capture_output=True, text=True, env=env)
        return p.returncode, p.stdout, p.stderr
    master, slave = pty.openpty()
    p = subprocess.Popen([KHUB, *args], stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    err = b""
    while True:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            err += chunk
        elif p.poll() is not None:
            break
    out = p.stdout.read().decode()
    p.wait()
    os.close(master)
    return p.returncode, out, err.decode(errors="replace")


with tempfile.TemporaryDirectory() as t:
    env = dict(os.environ)
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    init = ["init-model", "--arch", "qwen3", "--preset", "tiny", "--seed", "0"]

    rc, out, err = run(init + ["--out", f"{t}/pipe"], tty=False, env=env)
    check(rc == 0 and err == "", f"init-model on a pipe: stderr {err!r}")
    rc, out, err = run(init + ["--out", f"{t}/tty"], tty=True, env=env)
    check(rc == 0 and re.search(r"init-model: [\d.]+ / [\d.]+ MB \(100%\)", err),
          f"init-model on a terminal shows progress: {err!r}")
    check("init-model:" not in out, "progress never on stdout")
    rc, out, err = run(init + ["--out", f"{t}/quiet", "--quiet"], tty=True, env=env)
    check(rc == 0 and "init-model:" not in err, f"--quiet: {err!r}")

    m = f"{t}/pipe"
    train = ["train", "--model", m, "--data-ids", "1,2,3,4;5,6,7,8", "--steps", "3"]
    rc, out, err = run(train + ["--out", f"{t}/o1"], tty=False, env=env)
    check(rc == 0 and "ETA" not in err and "/3" not in err, f"train on a pipe: stderr {err!r}")
    rc, out, err = run(train + ["--out", f"{t}/o2"], tty=True, env=env)
    check(rc == 0 and "step 3/3" in err and "ETA" in err, f"train on a terminal: {err!r}")
    rc, out, err = run(train + ["--out", f"{t}/o3", "--quiet"], tty=True, env=env)
    check(rc == 0 and "ETA" not in err and "/3" not in err, f"train --quiet on a terminal: {err!r}")
    rc, out, err = run(train + ["--out", f"{t}/o4", "--json"], tty=True, env=env)
    rows = [json.loads(l) for l in out.splitlines()]
    check(rc == 0 and [r["step"] for r in rows if "loss" in r] == [1, 2, 3],
          f"train --json: stdout is JSON lines only: {out!r}")
    check("ETA" not in err and "/3" not in err, f"train --json draws no progress: {err!r}")

    # Downloads, from khub serve over loopback into a fresh cache each time.
    srv = subprocess.Popen([KHUB, "serve", "--root", HUB, "--port", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"listening on (\S+)", srv.stdout.readline()).group(1)
        denv = dict(env, HF_ENDPOINT=url)
        dl = ["download", "khub-community/rmsnorm@v1", "--all-variants"]
        rc, out, err = run(dl, tty=False, env=dict(denv, KERNELS_CACHE=f"{t}/c1"))
        check(rc == 0 and "/s" not in err and "files" not in err, f"download on a pipe: {err!r}")
        rc, out, err = run(dl, tty=True, env=dict(denv, KERNELS_CACHE=f"{t}/c2"))
        check(rc == 0 and re.search(r"metadata\.json  [\d.]+ \S*B  [\d.]+ \S*B/s", err),
              f"download on a terminal: a line per file: {err!r}")
        check(re.search(r"in \d+ files, [\d.]+ \S*B/s", err), f"download total line: {err!r}")
        rc, out, err = run(dl + ["--quiet"], tty=True, env=dict(denv, KERNELS_CACHE=f"{t}/c3"))
        check(rc == 0 and "/s" not in err, f"download --quiet on a terminal: {err!r}")
        rc, out, err = run(dl + ["--json"], tty=False, env=dict(denv, KERNELS_CACHE=f"{t}/c4"))
        check(rc == 0 and json.loads(out)[0]["repo"] == "khub-community/rmsnorm",
              f"download --json: {out!r}")
    finally:
        srv.terminate()
        srv.wait()

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok: progress only on terminals, --quiet, --json")
