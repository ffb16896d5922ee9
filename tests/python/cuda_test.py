"""khub's Python module on CUDA with the GPU machine's torch (run by scripts/cuda/python_cuda.sh,
not by ctest: it needs a GPU). Each check prints one PASS/FAIL row; the exit status is 1 when any
failed. References: torch's float64 math for the kernels, the `khub generate` CLI for the model.

    python tests/python/cuda_test.py KHUB_BINARY WORK_DIR
"""
import json
import os
import subprocess
import sys
import traceback

import numpy as np
import torch

import khub

KHUB, WORK = sys.argv[1], sys.argv[2]
rows = []


def check(name):
    def wrap(fn):
        try:
            detail = fn()
            rows.append(("PASS", name, detail or ""))
        except Exception as e:  # a failed check is a row, the others still run
            msg = "%s: %s" % (type(e).__name__, e)
            rows.append(("FAIL", name, msg.splitlines()[0][:160] if msg else ""))
            traceback.print_exc()
        return fn
    return wrap


def rms_ref(x, w, eps):  # torch float64
    xd = x.double()
    return xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps) * w.double()


def tol(dtype):  # (rtol, atol): f32 accumulation; bf16 also the output's rounding (2^-8 relative)
    return (2e-5, 2e-5) if dtype == torch.float32 else (1.6e-2, 1e-2)


def assert_close(got, ref, dtype, what):
    rtol, atol = tol(dtype)
    err = (got.double() - ref).abs()
    bad = err > atol + rtol * ref.abs()
    if bad.any():
        raise AssertionError("%s: %d of %d elements off, max |err| %.3g" %
                             (what, int(bad.sum()), bad.numel(), err.max().item()))
    return err.max().item()


dev = torch.device("cuda", torch.cuda.current_device())
K = {}


@check("get_kernel rmsnorm@^1 on cuda")
def _():
    K["rms"] = khub.get_kernel("khub-community/rmsnorm@^1", device="cuda:%d" % dev.index)
    k = K["rms"]
    assert "cuda" in k.variant, "a CUDA device got variant " + k.variant
    return "%s@%s %s trust=%s" % (k.repo, k.revision[:12], k.variant, k.trust["verdict"])


for dtype in (torch.float32, torch.bfloat16):
    dn = str(dtype).replace("torch.", "")

    @check("rms_norm_forward %s zero-copy" % dn)
    def _(dtype=dtype):
        g = torch.Generator(device="cpu").manual_seed(1)
        x = torch.randn(37, 1024, generator=g).to(dev, dtype)
        w = (1 + 0.1 * torch.randn(1024, generator=g)).to(dev, dtype)
        x0 = x.clone()
        out = torch.full_like(x, float("nan"))
        ptr = out.data_ptr()
        ret = K["rms"].rms_norm_forward(x, w, out, eps=1e-6)
        torch.cuda.synchronize()
        assert ret is out, "the call did not return the caller's out"
        assert out.data_ptr() == ptr and out.device == dev, "out moved"
        assert torch.equal(x, x0), "the input changed"
        err = assert_close(out, rms_ref(x, w, 1e-6), dtype, "out")
        return "max |err| %.3g vs float64" % err

    @check("fused_add_rms_norm_forward %s inout in place" % dn)
    def _(dtype=dtype):
        g = torch.Generator(device="cpu").manual_seed(2)
        x = torch.randn(16, 2048, generator=g).to(dev, dtype)
        residual = torch.randn(16, 2048, generator=g).to(dev, dtype)
        w = (1 + 0.1 * torch.randn(2048, generator=g)).to(dev, dtype)
        r0 = residual.double().clone()
        out = torch.empty_like(x)
        rptr, optr = residual.data_ptr(), out.data_ptr()
        ret = K["rms"].fused_add_rms_norm_forward(x, residual, w, out, eps=1e-5)
        torch.cuda.synchronize()
        assert ret is out and out.data_ptr() == optr, "out is not the caller's"
        assert residual.data_ptr() == rptr, "residual moved"
        summed = x.double() + r0
        e1 = assert_close(residual, summed, dtype, "residual (x + residual)")
        e2 = assert_close(out, rms_ref(summed, w, 1e-5), dtype, "out")
        return "max |err| residual %.3g, out %.3g" % (e1, e2)


@check("rms_norm_forward on a side stream")
def _():
    s = torch.cuda.Stream()
    x = torch.randn(64, 4096, device=dev)
    w = torch.rand(4096, device=dev) + 0.5
    out = torch.empty_like(x)
    torch.cuda.synchronize()
    with torch.cuda.stream(s):
        y = x * 3.0  # queued on s: the kernel must run after it, on s
        K["rms"].rms_norm_forward(y, w, out, eps=1e-6)
    s.synchronize()
    return "max |err| %.3g" % assert_close(out, rms_ref(x * 3.0, w, 1e-6), torch.float32, "out")


@check("a CPU tensor to a CUDA kernel is InvalidArgumentError")
def _():
    x = torch.randn(4, 256)
    try:
        K["rms"].rms_norm_forward(x, torch.ones(256), torch.empty_like(x), eps=1e-6)
    except khub.InvalidArgumentError as e:
        assert "argument 'x' is on cpu" in str(e), str(e)
        return str(e)[:100]
    raise AssertionError("a CPU tensor was accepted by a CUDA kernel")


@check("numpy %s on the CPU variant" % np.__version__)
def _():
    k = khub.get_kernel("khub-community/rmsnorm@^1")
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    out = np.empty_like(x)
    k.rms_norm_forward(x, np.ones(64, np.float32), out, eps=1e-6)
    ref = rms_ref(torch.from_numpy(x), torch.ones(64), 1e-6).numpy()
    np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-6)
    return k.variant


@check("error text equals the CLI's")
def _():
    ref = "khub-community/no-such-kernel@^1"
    cli = subprocess.run([KHUB, "info", ref], capture_output=True, text=True)
    try:
        khub.get_kernel(ref)
    except khub.KhubError as e:
        want = "khub info: %s: %s" % (e.kind, e)
        assert cli.stderr.strip() == want, "CLI %r, Python %r" % (cli.stderr.strip(), want)
        return type(e).__name__
    raise AssertionError("no error")


model = os.path.join(WORK, "model")
if not os.path.isfile(os.path.join(model, "config.json")):
    subprocess.run([KHUB, "init-model", "--arch", "llama", "--preset", "tiny", "--out", model],
                   check=True, capture_output=True)
for dtype in ("bf16", "f32"):

    @check("from_pretrained(use_kernels=True, cuda, %s) ids == khub generate" % dtype)
    def _(dtype=dtype):
        args = [KHUB, "generate", "--model", model, "--device", "cuda", "--dtype", dtype,
                "--prompt-ids", "1,2,3,4", "--max-new-tokens", "16", "--greedy", "--ignore-eos",
                "--use-kernels", "--kernels-lock", "none", "--json"]
        r = subprocess.run(args, capture_output=True, text=True)
        assert r.returncode == 0, "khub generate: " + r.stderr.strip()[-300:]
        cli = json.loads(r.stdout)
        m = khub.AutoModelForCausalLM.from_pretrained(model, use_kernels=True, device="cuda",
                                                      dtype=dtype, lockfile=False)
        assert m.device.startswith("cuda"), m.device
        ids = m.generate([1, 2, 3, 4], max_new_tokens=16, ignore_eos=True)
        assert ids == cli["ids"], "Python %s, CLI %s" % (ids, cli["ids"])
        report = m.kernel_report()
        assert report == cli["kernels"], "kernel reports differ"
        bound = [e["key"] for e in report if e["kernel"] and "cuda" in e["kernel"]["variant"]]
        assert "RMSNorm" in bound, "RMSNorm not on a CUDA kernel: %s" % report
        return "%d ids equal; CUDA kernels: %s" % (len(ids), ",".join(bound))


print()
print("%-4s  %-58s %s" % ("", "check (%s, torch %s)" % (torch.cuda.get_device_name(dev),
                                                         torch.__version__), "detail"))
for status, name, detail in rows:
    print("%-4s  %-58s %s" % (status, name, detail))
failed = sum(1 for r in rows if r[0] == "FAIL")
print("python_cuda: %s (%d checks, %d failed)" % ("PASS" if not failed else "FAIL", len(rows),
                                                 failed))
sys.exit(1 if failed else 0)
