"""The Python module resolves, locks and verifies kernels exactly as the khub CLI does, on the
fixtures of tests/cli/kernels_cli_test.sh (the bundled hub over `khub serve`, a project's
kernels.lock) and tests/hub/trust_cli_test.sh (the `scale` test kernel, signed and unsigned, over
HTTP): the same revision for a reference, a lock honoured from the project's folder and refused when
it does not match with the text the CLI reports, unsigned remote kernels refused under the default
trust policy, and khub errors as Python exceptions carrying the C++ text.

Every Python call runs in a fresh interpreter with the environment the CLI gets (the hub, cache
and trust policy are read once per process).  argv: KHUB_BINARY BUNDLED_HUB TEST_FIXTURES"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

KHUB, HUB, FIXTURES = (os.path.abspath(a) for a in sys.argv[1:4])

# Runs in a child interpreter: get_kernel(ref, **kw), optionally one function call on numpy
# arrays; prints the kernel's identity or the khub exception as JSON.
SNIPPET = r"""
import json, sys
import numpy as np
import khub
a = json.loads(sys.argv[1])
try:
    k = khub.get_kernel(a["ref"], **a.get("kw", {}))
    r = {"revision": k.revision, "variant": k.variant, "trust": k.trust}
    if "call" in a:
        x = np.asarray(a["call"]["x"], np.float32)
        out = np.full_like(x, np.nan)
        getattr(k, a["call"]["fn"])(x, out, **a["call"]["attrs"])
        r["out"] = out.tolist()
    print(json.dumps(r))
except khub.KhubError as e:
    print(json.dumps({"kind": e.kind, "text": str(e), "class": type(e).__name__}))
"""


def start_server(root, log):
    """`khub serve --root ROOT --port 0`: (process, url)."""
    out = open(log + ".out", "w+")  # closed with the server (Base.tearDownClass)
    p = subprocess.Popen([KHUB, "serve", "--root", root, "--port", "0", "--log", log],
                         stdout=out, stderr=subprocess.STDOUT)
    for _ in range(200):
        out.seek(0)
        m = re.search(r"listening on (http:\S+)", out.read())
        if m:
            p.out = out
            return p, m.group(1).rstrip("/")
        if p.poll() is not None:
            break
        time.sleep(0.05)
    out.seek(0)
    p.kill()
    text = out.read()
    out.close()
    raise RuntimeError("khub serve did not start: " + text)


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = tempfile.mkdtemp(prefix="khub-py-resolution-")
        cls.servers = []
        cls.base_env = {k: v for k, v in os.environ.items()
                        if not k.startswith(("KHUB_TRUST", "KHUB_REQUIRE", "HF_", "KERNELS_"))}
        cls.base_env.update(HF_HOME=os.path.join(cls.t, "hf"), LOCAL_KERNELS="",
                            KHUB_RECEIPTS_DIR=os.path.join(cls.t, "receipts"))

    @classmethod
    def tearDownClass(cls):
        for p in cls.servers:
            p.kill()
            p.wait()
            p.out.close()
        shutil.rmtree(cls.t, ignore_errors=True)

    @classmethod
    def serve(cls, root, name):
        p, url = start_server(root, os.path.join(cls.t, name + ".log"))
        cls.servers.append(p)
        return url

    def env(self, **kw):
        e = dict(self.base_env)
        e.update(kw)
        return e

    def cli(self, args, env, cwd=None, check=True):
        r = subprocess.run([KHUB] + args, capture_output=True, text=True, env=env, cwd=cwd)
        if check and r.returncode != 0:
            self.fail("khub %s: rc %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def py(self, ref, env, cwd=None, **kw):
        a = {"ref": ref, "kw": kw}
        if "call" in kw:
            a["call"] = kw.pop("call")
        r = subprocess.run([sys.executable, "-c", SNIPPET, json.dumps(a)], capture_output=True,
                           text=True, env=env, cwd=cwd or self.t)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def assert_refused(self, r, cls_name, contains):
        self.assertIn("text", r, "loaded although it should be refused: %s" % r)
        self.assertEqual(r["class"], cls_name, r)
        self.assertIn(contains, r["text"])

    def assert_verify_says(self, py, args, env):
        """`khub verify ARGS` fails, and its trust line is the end of the Python exception's text
        (which the loader prefixes with "cannot load REPO@REV [VARIANT]: ")."""
        cli = self.cli(["verify", *args], env, check=False)
        self.assertNotEqual(cli.returncode, 0, cli.stdout)
        lines = [l.strip() for l in cli.stdout.splitlines()
                 if l.strip().startswith("refused by the trust policy: ")]
        self.assertEqual(len(lines), 1, cli.stdout)
        m = re.match(r"cannot load (\S+)@([0-9a-f]{12}) \[(\S+)\]: (.*)$", py["text"], re.S)
        self.assertTrue(m, py["text"])
        self.assertEqual(m.group(4), lines[0])


class LockTest(Base):
    """kernels_cli_test.sh's project: rmsnorm locked to v1.0.0 (the default ^1 is v1.1.0)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.url = cls.serve(HUB, "bundled")
        cls.http = dict(HF_ENDPOINT=cls.url, KERNELS_CACHE=os.path.join(cls.t, "cache"),
                        KHUB_HUB_PATH=HUB)
        cls.proj = os.path.join(cls.t, "proj")
        os.makedirs(os.path.join(cls.proj, "sub"))
        with open(os.path.join(cls.proj, "kernels.toml"), "w") as f:
            f.write('[dependencies]\n"khub-community/rmsnorm" = "v1.0.0"\n'
                    '"khub-community/activation" = 1\n')
        env = dict(cls.base_env, **cls.http)
        subprocess.run([KHUB, "lock", cls.proj], check=True, capture_output=True, env=env)
        cls.lock = os.path.join(cls.proj, "kernels.lock")
        with open(cls.lock) as f:
            cls.entries = {e["repo_id"]: e for e in json.load(f)}
        # The lock with activation's metadata digest changed (as kernels_cli_test.sh tampers it).
        cls.tampered = os.path.join(cls.t, "tampered.lock")
        with open(cls.lock) as f:
            j = json.load(f)
        for e in j:
            if e["repo_id"] == "khub-community/activation":
                for v in e["khub"]["variants"].values():
                    v["metadata"] = "sha256-" + "0" * 64
        with open(cls.tampered, "w") as f:
            json.dump(j, f)
        cls.model = os.path.join(cls.t, "m")
        subprocess.run([KHUB, "init-model", "--arch", "llama", "--preset", "tiny", "--out",
                        cls.model], check=True, capture_output=True, env=env)

    def ref_sha(self, kind, name):
        with open(os.path.join(HUB, "khub-community/rmsnorm/refs", kind, name)) as f:
            return f.read().strip()

    def generate(self, cwd, *extra):
        r = self.cli(["generate", "--model", self.model, "--prompt-ids", "5,6,7",
                      "--max-new-tokens", "4", "--json", "--use-kernels", *extra],
                     self.env(**self.http), cwd=cwd)
        return {k["key"]: k for k in json.loads(r.stdout)["kernels"]}

    def test_resolution_equals_cli(self):
        env = self.env(KHUB_HUB_PATH=HUB, HF_HUB_OFFLINE="1")
        for ref in ("khub-community/rmsnorm@^1", "khub-community/rmsnorm@v1.0.0",
                    "khub-community/rmsnorm@v1", "khub-community/activation"):
            cli = json.loads(self.cli(["info", ref, "--json"], env).stdout)
            py = self.py(ref, env, lockfile=False)
            self.assertEqual(py["revision"], cli["revision"], ref)
        self.assertEqual(self.py("khub-community/rmsnorm@^1", env)["revision"],
                         self.ref_sha("heads", "v1"))
        self.assertEqual(self.py("khub-community/rmsnorm", env, version="^1.0")["revision"],
                         self.ref_sha("tags", "v1.1.0"))
        self.assertEqual(self.py("khub-community/rmsnorm", env, revision="v1.0.0")["revision"],
                         self.ref_sha("tags", "v1.0.0"))

    def test_project_lock_is_honoured(self):
        v100 = self.ref_sha("tags", "v1.0.0")
        self.assertEqual(self.entries["khub-community/rmsnorm"]["sha"], v100)
        self.assertNotEqual(self.ref_sha("heads", "v1"), v100)
        sub = os.path.join(self.proj, "sub")
        env = self.env(**self.http)
        # The nearest kernels.lock above the working directory, as the CLI finds it.
        self.assertEqual(self.py("khub-community/rmsnorm@^1", env, cwd=sub)["revision"], v100)
        self.assertEqual(self.generate(sub)["RMSNorm"]["kernel"]["revision"], v100)
        # lockfile=False ignores it, as --kernels-lock none does; a path applies it from anywhere.
        unlocked = self.py("khub-community/rmsnorm@^1", env, cwd=sub, lockfile=False)
        self.assertEqual(unlocked["revision"], self.ref_sha("heads", "v1"))
        self.assertEqual(self.generate(sub, "--kernels-lock", "none")["RMSNorm"]["kernel"]
                         ["revision"], unlocked["revision"])
        self.assertEqual(self.py("khub-community/rmsnorm", env, lockfile=self.lock)["revision"],
                         v100)
        self.assertEqual(self.py("khub-community/activation", env, lockfile=self.lock)["revision"],
                         self.entries["khub-community/activation"]["sha"])

    def test_mismatching_lock_refused_with_cli_text(self):
        env = self.env(**self.http)
        py = self.py("khub-community/activation", env, lockfile=self.tampered)
        self.assert_refused(py, "VerificationError", "locks sha256-" + "0" * 64)
        self.assertIn(self.tampered, py["text"])
        cli = self.generate(self.t, "--kernels-lock", self.tampered)["SiluAndMul"]
        self.assertIsNone(cli["kernel"])
        # kernelize's reason: "failed to load REF: " + the loader's error, the text Python raises.
        prefix, _, text = cli["reason"].partition(": ")
        self.assertRegex(prefix, r"^failed to load khub-community/activation(@\S+)?$")
        self.assertEqual(text, py["text"])
        # The models API applies the same lock the same way: the same report as the CLI's.
        code = ("import json, sys, khub\nm = khub.AutoModelForCausalLM.from_pretrained("
                "sys.argv[1], use_kernels=True, lockfile=sys.argv[2])\n"
                "print(json.dumps({'ids': m.generate([5, 6, 7], max_new_tokens=4), "
                "'kernels': m.kernel_report()}))")
        r = subprocess.run([sys.executable, "-c", code, self.model, self.tampered],
                           capture_output=True, text=True, env=env, cwd=self.t)
        self.assertEqual(r.returncode, 0, r.stderr)
        report = {k["key"]: k for k in json.loads(r.stdout)["kernels"]}
        self.assertEqual(report["SiluAndMul"], cli)
        self.assertIsNotNone(report["RMSNorm"]["kernel"])  # the other locked kernel still loads

    def test_missing_lockfile_is_not_found(self):
        missing = os.path.join(self.t, "no-such.lock")
        py = self.py("khub-community/rmsnorm", self.env(**self.http), lockfile=missing)
        self.assert_refused(py, "NotFoundError", missing)
        self.assertEqual(py["kind"], "not found")
        cli = self.cli(["generate", "--model", self.model, "--prompt-ids", "5", "--max-new-tokens",
                        "1", "--use-kernels", "--kernels-lock", missing], self.env(**self.http),
                       check=False)
        self.assertNotEqual(cli.returncode, 0)
        self.assertEqual(cli.stderr.strip(), "khub generate: not found: " + py["text"])


class TrustTest(Base):
    """trust_cli_test.sh's hub: khub-test/scale signed by key a, khub-test/unsigned unsigned."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t = cls.t
        env = dict(cls.base_env, KHUB_HUB_PATH=os.path.join(t, "hub"), HF_HUB_OFFLINE="1")
        hub = os.path.join(t, "hub")
        run = lambda *a: subprocess.run([KHUB, *a], check=True, capture_output=True, text=True,
                                        env=env).stdout
        keygen = run("keygen", "--out", os.path.join(t, "a.key"))
        cls.key_id = re.search(r"^key (\S+)", keygen, re.M).group(1)
        with open(os.path.join(t, "a.key.pub")) as f:
            cls.pub = f.read().strip()
        cls.policy = os.path.join(t, "trust-a.toml")
        with open(cls.policy, "w") as f:
            f.write('[[keys]]\nname = "key a"\npublic-key = "%s"\nrepos = ["khub-test/*"]\n'
                    % cls.pub)
        v1 = os.path.join(FIXTURES, "scale-v1")
        run("publish", v1, "--hub", hub, "--tag", "v1.0.0", "--sign", os.path.join(t, "a.key"))
        run("publish", v1, "--hub", hub, "--repo", "khub-test/unsigned")
        cls.local = env
        cls.http = dict(cls.base_env, KHUB_HUB_PATH="", HF_ENDPOINT=cls.serve(hub, "test"),
                        KERNELS_CACHE=os.path.join(t, "cache"))

    def test_unsigned_remote_refused_by_default(self):
        py = self.py("khub-test/unsigned", self.http)
        self.assert_refused(py, "VerificationError",
                            "unsigned, and the policy refuses unsigned kernels from remote sources")
        self.assert_verify_says(py, ["khub-test/unsigned"], self.http)

    def test_signed_remote_with_trusted_key(self):
        x = [[1.0, -2.0, 0.5], [3.0, 0.25, -1.5]]
        call = {"fn": "scale_forward", "x": x, "attrs": {"alpha": 2.5}}
        for how, env, kw in (("KHUB_TRUST_POLICY", dict(self.http, KHUB_TRUST_POLICY=self.policy),
                              {}), ("trust_policy=", self.http, {"trust_policy": self.policy})):
            py = self.py("khub-test/scale@v1.0.0", env, call=call, **kw)
            self.assertNotIn("text", py, how)
            self.assertEqual(py["trust"]["verdict"], "signed", how)
            self.assertEqual([[v / 2.5 for v in row] for row in py["out"]], x, how)
        cli = json.loads(self.cli(["info", "khub-test/scale@v1.0.0", "--json"],
                                  dict(self.http, KHUB_TRUST_POLICY=self.policy)).stdout)
        self.assertEqual(py["trust"]["signer"], cli["trust"]["signer"])
        # Without the policy, key a is unknown: a signed kernel from HTTP is refused all the same.
        untrusted = self.py("khub-test/scale@v1.0.0", self.http)
        self.assert_refused(untrusted, "VerificationError",
                            "key %s is not trusted for khub-test/scale" % self.key_id)
        self.assert_verify_says(untrusted, ["khub-test/scale@v1.0.0"], self.http)

    def test_require_signed_local(self):
        py = self.py("khub-test/unsigned", self.local)
        self.assertEqual(py["trust"]["verdict"], "unsigned-warned")
        refused = self.py("khub-test/unsigned", self.local, require_signed=True)
        self.assert_refused(refused, "VerificationError",
                            "refuses unsigned kernels from local sources")
        self.assert_verify_says(refused, ["khub-test/unsigned", "--require-signed"], self.local)

    def test_errors_carry_cli_text(self):
        for ref, kind in (("khub-test/no-such-kernel@^1", "not found"),
                          ("khub-test/scale@v9.0.0", "not found"), ("not a ref", None)):
            cli = self.cli(["info", ref], self.local, check=False)
            self.assertNotEqual(cli.returncode, 0, ref)
            py = self.py(ref, self.local)
            self.assertIn("text", py, ref)
            if kind:
                self.assertEqual(py["kind"], kind, ref)
            self.assertEqual(cli.stderr.strip(), "khub info: %s: %s" % (py["kind"], py["text"]))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
