"""Gets khub-community/rmsnorm from the kernel hub and calls its forward on torch tensors, writing
into an output the caller allocated (no copies: DLPack), checks it against float64 math, then
optionally loads a model with hub kernels and generates from it.

    python examples/python/rmsnorm.py [--device cpu|cuda] [--dtype f32|bf16] [--model DIR]

The hub: KHUB_HUB_PATH, the bundled hub of a build tree, or an HTTP hub (HF_ENDPOINT).
Exits 1 when the kernel's result is off.
"""
import argparse
import sys

import torch

import khub

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--device", default="cpu", help="cpu or cuda (torch's current CUDA device)")
p.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
p.add_argument("--model", help="an HF model directory to generate from with kernels")
args = p.parse_args()

device = torch.device(args.device)
dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
kdevice = "cuda:%d" % (device.index or 0) if device.type == "cuda" else "cpu"

rms = khub.get_kernel("khub-community/rmsnorm@^1", device=kdevice)
print("%s@%s %s (trust: %s)" % (rms.repo, rms.revision[:12], rms.variant, rms.trust["verdict"]))
print(rms.rms_norm_forward.signature)

g = torch.Generator().manual_seed(0)
x = torch.randn(4, 256, generator=g).to(device, dtype)
w = (1 + 0.1 * torch.randn(256, generator=g)).to(device, dtype)
out = torch.empty_like(x)
rms.rms_norm_forward(x, w, out, eps=1e-6)  # writes out in place (torch's current stream on CUDA)

xd, wd = x.double(), w.double()
ref = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-6) * wd
err = (out.double() - ref).abs().max().item()
tol = 1e-5 if dtype == torch.float32 else 3e-2  # bf16: the output's rounding (2^-8 relative)
print("rms_norm_forward %s %s: max |kernel - float64| = %.3g (tolerance %g)"
      % (args.device, args.dtype, err, tol))

if args.model:
    model = khub.AutoModelForCausalLM.from_pretrained(args.model, use_kernels=True,
                                                      device=kdevice)
    ids = model.generate([1, 2, 3], max_new_tokens=8)
    print("generated:", " ".join(map(str, ids)))
    for entry in model.kernel_report():
        k = entry["kernel"]
        print("kernel %s %s" % (entry["key"], "%s@%s" % (k["repo"], k["revision"][:12]) if k
                                else "reference (" + entry["reason"] + ")"))

sys.exit(0 if err <= tol else 1)
