#!/usr/bin/env python3
"""Which backward makes khub's training kernels drift: whole gradients of one batch, per parameter,
between khub's paths on CUDA and transformers (issue 18).

For each checkpoint, `khub grad --device cuda --save-grads` runs one forward and backward of the
next-token loss on the first BATCH rows of ROWS (a loss_curve.py --keep rows.jsonl) in four
configurations: f32 and bf16, each on the reference path and with --use-kernels. transformers
computes the same gradients in f32 (TF32 off) and under torch.autocast(bf16). Compared, per
parameter, as rel = |a - b| / |b| (L2 over the whole tensor):
  f32:k/r    f32 kernels against f32 reference    (a kernel's math: expect <= 1e-3)
  bf16:r/f32 bf16 reference against f32 reference (the spread bf16 itself causes on khub's path)
  bf16:k/f32 bf16 kernels against f32 reference   (the kernels' spread; should match bf16:r/f32)
  bf16:k/r   bf16 kernels against bf16 reference
  f32:r/hf   khub f32 reference against transformers f32 (the golden: <= 1e-3)
  hf:bf16    transformers bf16 against transformers f32 (torch's own bf16 spread)
Parameters are grouped by kind (the name without its layer index): the maximum over the layers,
and where in the layers it is. A kernel whose bf16 backward is off shows as kinds where bf16:k/f32
is well above bf16:r/f32 (flagged "SUSPECT"): input/post_attention_layernorm -> rmsnorm
(FusedAddRMSNorm), q_norm/k_norm -> rmsnorm (RMSNorm) and rotary (q_proj/k_proj), mlp.gate/up_proj
-> activation (SiluAndMul), model.embed_tokens (tied LM head) and model.norm -> linear-cross-entropy.
Writes OUT (JSON: losses, per-parameter and per-kind differences, device, date, commit).
  grad_diag.py KHUB ROWS OUT CKPT [CKPT...] [--batch 8] [--repo .]
"""
import argparse, datetime, json, os, re, subprocess, tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("khub"); ap.add_argument("rows"); ap.add_argument("out")
ap.add_argument("ckpts", nargs="+")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--repo", default=".")
ap.add_argument("--commit", help="stamped into OUT (default: git rev-parse in --repo)")
a = ap.parse_args()

rows = [json.loads(l)["input_ids"] for l in open(a.rows) if l.strip()][:a.batch]
assert len(rows) == a.batch, f"{a.rows}: {len(rows)} rows, need {a.batch}"
ids_arg = ";".join(",".join(map(str, r)) for r in rows)
work = tempfile.mkdtemp()
CONFIGS = {"f32_ref": ("f32", False), "f32_kernels": ("f32", True), "bf16_ref": ("bf16", False),
           "bf16_kernels": ("bf16", True)}
PAIRS = [("f32:k/r", "f32_kernels", "f32_ref"), ("bf16:r/f32", "bf16_ref", "f32_ref"),
         ("bf16:k/f32", "bf16_kernels", "f32_ref"), ("bf16:k/r", "bf16_kernels", "bf16_ref"),
         ("f32:r/hf", "f32_ref", "hf_f32"), ("hf:bf16", "hf_bf16", "hf_f32")]


def khub_grads(ckpt, name):
    dtype, kernels = CONFIGS[name]
    path = os.path.join(work, f"{name}.safetensors")
    cmd = [a.khub, "grad", "--model", ckpt, "--prompt-ids", ids_arg, "--device", "cuda", "--dtype",
           dtype, "--save-grads", path, "--json"] + (["--use-kernels"] if kernels else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, f"khub grad {name}: exit {p.returncode}\n{p.stderr[-3000:]}"
    return json.loads(p.stdout)["loss"], {k: v.double() for k, v in load_file(path).items()}


def hf_grads(ckpt, bf16):
    torch.backends.cuda.matmul.allow_tf32 = False
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32).cuda().train()
    x = torch.tensor(rows, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
        loss = model(x, labels=x).loss
    loss.backward()
    grads = {n: p.grad.detach().double().cpu() for n, p in model.named_parameters() if p.grad is not None}
    grads.pop("lm_head.weight", None)  # tied: the embedding's gradient holds both
    return loss.item(), grads


def kind(name):
    m = re.match(r"model\.layers\.(\d+)\.(.*)", name)
    return (m.group(2), int(m.group(1))) if m else (name, -1)


def rel(x, y):
    d = torch.linalg.vector_norm(x - y).item()
    n = torch.linalg.vector_norm(y).item()
    return d / n if n > 0 else (0.0 if d == 0 else float("inf"))


def diagnose(ckpt):
    losses, grads = {}, {}
    for name in CONFIGS: losses[name], grads[name] = khub_grads(ckpt, name)
    losses["hf_f32"], grads["hf_f32"] = hf_grads(ckpt, False)
    losses["hf_bf16"], grads["hf_bf16"] = hf_grads(ckpt, True)
    names = sorted(grads["f32_ref"])
    for g, d in grads.items():
        assert sorted(d) == names, f"{g}: parameters {sorted(set(d) ^ set(names))[:5]} differ"
    per_param = {n: {p: rel(grads[x][n], grads[y][n]) for p, x, y in PAIRS} for n in names}
    kinds = {}
    for n in names:
        k, layer = kind(n)
        e = kinds.setdefault(k, {p: 0.0 for p, _, _ in PAIRS} | {"worst_layer": {}})
        for p, _, _ in PAIRS:
            if per_param[n][p] >= e[p]:
                e[p] = per_param[n][p]
                e["worst_layer"][p] = layer
    for k, e in kinds.items():
        e["suspect"] = e["bf16:k/f32"] > 2 * e["bf16:r/f32"] + 1e-3 or e["f32:k/r"] > 1e-3
    return {"checkpoint": ckpt, "losses": losses, "per_param": per_param, "per_kind": kinds}


commit = a.commit or subprocess.run(["git", "-C", a.repo, "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip() or "unknown"
res = {"date": datetime.date.today().isoformat(), "commit": commit,
       "device": torch.cuda.get_device_name(0), "script": "scripts/cuda/grad_diag.py",
       "batch": a.batch, "seq_len": len(rows[0]), "pairs": {p: f"{x} vs {y}" for p, x, y in PAIRS},
       "checkpoints": []}
for ckpt in a.ckpts:
    r = diagnose(ckpt)
    res["checkpoints"].append(r)
    print(f"{ckpt}: loss " + ", ".join(f"{k} {v:.6f}" for k, v in r["losses"].items()))
    print(f"  {'kind':34s}" + "".join(f"{p:>12s}" for p, _, _ in PAIRS))
    for k, e in sorted(r["per_kind"].items()):
        print(f"  {k:34s}" + "".join(f"{e[p]:12.2e}" for p, _, _ in PAIRS) +
              ("  SUSPECT" if e["suspect"] else ""))
    bad = sorted(k for k, e in r["per_kind"].items() if e["suspect"])
    print(f"  suspect kinds: {', '.join(bad) if bad else 'none'}")
json.dump(res, open(a.out, "w"), indent=1)
