#!/usr/bin/env python3
"""khub train on CUDA against transformers + torch.optim.AdamW: the same checkpoint, data, batch
order and hyper-parameters, step by step (issue 18's loss-curve check).

The corpus is this repository's prose: README.md, docs/*.md, kernels/*/README.md, then the comment
lines (`//`, marker stripped) of src/, include/ and kernels/ sources, in sorted path order — about
500 k bytes, i.e. 500 k tokens of the byte-level tokenizer `khub init-model` writes. It is
tokenized with the model's tokenizer.json by HF `tokenizers`, packed into rows of exactly T tokens
(the tail dropped) and written as {"input_ids": ...} lines. khub trains with --no-shuffle, so step
k's batch is rows[(k·B + i) mod n] for i < B (the DataLoader's file order, continued across
epochs); torch gets exactly those rows. With the defaults (200 steps × 16 rows × 128 tokens) the
run sees 410 k tokens, less than one epoch: nothing is seen twice, the model cannot memorize, and
the loss stays in a range where a relative difference means something. Labels are the inputs on
both sides (the model shifts them: position i is scored against token i + 1, the mean over the
B·(T−1) scored tokens), as `model(x, labels=x)` does.

Both sides start from the checkpoint `khub init-model` writes with the embedding scaled to
transformers' initializer_range (0.02; N(0, 1) embeddings tied to the LM head give logits of std
~sqrt(hidden)), saved by transformers into a fresh folder. --dtype bf16: khub's bf16 compute over
f32 master weights against torch.autocast(bf16) over f32 weights; torch also runs in f32 (TF32 off)
as the spread bf16 itself causes (torch_bf16_vs_f32). Each --variants entry is one khub run: ref
(the reference path) and kernels (--use-kernels).

Writes OUT (JSON): device, date, commit, corpus, hyper-parameters, the torch curves and per khub
variant its curve, the per-step relative and absolute differences, their maxima over every step
and over the logged steps (every 10th and the last), and within_2pct_every_logged_step.
--keep DIR keeps the initial checkpoint (DIR/init), the rows (DIR/rows.jsonl) and each variant's
trained checkpoint (DIR/out-VARIANT) for scripts/cuda/grad_diag.py.
  loss_curve.py KHUB MODEL_DIR OUT [--steps 200] [--batch 16] [--seq-len 128] [--lr 5e-5]
                [--dtype f32|bf16] [--variants ref,kernels] [--keep DIR] [--repo .]
"""
import argparse, datetime, glob, hashlib, json, os, re, shutil, subprocess, tempfile, time

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
for a in ("khub", "model", "out"): ap.add_argument(a)
ap.add_argument("--steps", type=int, default=200); ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--seq-len", type=int, default=128); ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--dtype", default="bf16", choices=["f32", "bf16"])
ap.add_argument("--variants", default="ref,kernels", help="comma-separated: ref, kernels")
ap.add_argument("--keep", help="keep the checkpoints and rows here (for grad_diag.py)")
ap.add_argument("--repo", default=".", help="the repository whose prose is the corpus")
ap.add_argument("--commit", help="stamped into OUT (default: git rev-parse in --repo)")
a = ap.parse_args()
variants = [v for v in a.variants.split(",") if v]
assert variants and all(v in ("ref", "kernels") for v in variants), a.variants


def corpus_files(repo):
    prose = [os.path.join(repo, "README.md")] + sorted(glob.glob(os.path.join(repo, "docs/*.md"))) \
        + sorted(glob.glob(os.path.join(repo, "kernels/*/README.md")))
    code = []
    for top in ("src", "include", "kernels"):
        for root, _, names in os.walk(os.path.join(repo, top)):
            code += [os.path.join(root, n) for n in names if re.search(r"\.(h|cc|cu|cuh)$", n)]
    return prose, sorted(code)


prose, code = corpus_files(a.repo)
parts = [open(f, encoding="utf-8").read() for f in prose]
for f in code:
    lines = [m.group(1) for m in re.finditer(r"^\s*// ?(.*)$", open(f, encoding="utf-8").read(), re.M)]
    if lines: parts.append("\n".join(lines) + "\n")
text = "\n\n".join(parts)
ids = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json")).encode(
    text, add_special_tokens=False).ids
T, B = a.seq_len, a.batch
rows = [ids[r * T:(r + 1) * T] for r in range(len(ids) // T)]
assert len(rows) >= B, f"corpus: {len(ids)} tokens, fewer than one batch of {B} x {T}"
batches = [[rows[(k * B + i) % len(rows)] for i in range(B)] for k in range(a.steps)]
hyper = dict(lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

work = a.keep or tempfile.mkdtemp()
os.makedirs(work, exist_ok=True)
init = os.path.join(work, "init")
m0 = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
with torch.no_grad():
    m0.get_input_embeddings().weight.mul_(m0.config.initializer_range)
m0.save_pretrained(init)
shutil.copy(os.path.join(a.model, "tokenizer.json"), init)
del m0
data = os.path.join(work, "rows.jsonl")
with open(data, "w") as f:
    for r in rows: f.write(json.dumps({"input_ids": r}) + "\n")


def khub_curve(variant):
    out = os.path.join(work, f"out-{variant}")
    cmd = [a.khub, "train", "--model", init, "--data", data, "--out", out, "--no-shuffle",
           "--steps", str(a.steps), "--batch", str(B), "--seq-len", str(T), "--lr", str(a.lr),
           "--betas", "0.9,0.999", "--eps", "1e-8", "--weight-decay", "0.01", "--device", "cuda",
           "--dtype", a.dtype, "--json"] + (["--use-kernels"] if variant == "kernels" else [])
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-3000:]}"
    events = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    losses = [e["loss"] for e in events if "loss" in e]
    assert len(losses) == a.steps, f"khub {variant}: {len(losses)} steps logged, expected {a.steps}"
    return losses, time.time() - t0


def torch_curve(dtype):
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), **hyper)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == "bf16")
    losses, t0 = [], time.time()
    for k in range(a.steps):
        x = torch.tensor(batches[k], device="cuda")
        with amp:
            loss = model(x, labels=x).loss
        loss.backward(); opt.step(); opt.zero_grad()
        losses.append(loss.item())
    return losses, time.time() - t0


logged = sorted(set(range(0, a.steps, 10)) | {a.steps - 1})


def compare(mine, ref):
    rel = [abs(k - r) / abs(r) for k, r in zip(mine, ref)]
    ab = [abs(k - r) for k, r in zip(mine, ref)]
    worst = max(range(len(rel)), key=rel.__getitem__)
    return {"rel_diff": rel, "abs_diff": ab, "max_rel_diff": max(rel), "max_rel_diff_step": worst + 1,
            "max_abs_diff": max(ab), "max_rel_diff_logged": max(rel[i] for i in logged),
            "max_abs_diff_logged": max(ab[i] for i in logged),
            "within_2pct_every_logged_step": all(rel[i] <= 0.02 for i in logged)}


ref, ref_s = torch_curve(a.dtype)
commit = a.commit or subprocess.run(["git", "-C", a.repo, "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip() or "unknown"
res = {"date": datetime.date.today().isoformat(), "commit": commit,
       "device": torch.cuda.get_device_name(0), "script": "scripts/cuda/loss_curve.py",
       "dtype": a.dtype, "steps": a.steps, "batch": B, "seq_len": T,
       "hyper": {**hyper, "betas": list(hyper["betas"])},
       "corpus": {"files": len(prose) + len(code), "bytes": len(text.encode()), "tokens": len(ids),
                  "rows": len(rows), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
                  "epochs_seen": a.steps * B / len(rows)},
       "order": "khub train --no-shuffle: step k trains on rows[(k*B + i) mod n], i < B; torch the same",
       "logged_steps": [i + 1 for i in logged], "transformers_losses": ref, "transformers_seconds": ref_s}
if a.dtype == "bf16":
    f32, _ = torch_curve("f32")
    res["transformers_f32_losses"] = f32
    res["transformers_bf16_vs_f32"] = {k: v for k, v in compare(ref, f32).items()
                                       if k not in ("rel_diff", "abs_diff")}
print(f"corpus {len(ids)} tokens, {len(rows)} rows of {T}; {a.steps} steps x {B} rows = "
      f"{res['corpus']['epochs_seen']:.2f} epochs; transformers {a.dtype} {ref[0]:.4f} -> {ref[-1]:.4f}")
if "transformers_bf16_vs_f32" in res:
    c = res["transformers_bf16_vs_f32"]
    print(f"  transformers bf16 vs f32: max rel {c['max_rel_diff']:.2e}, max abs {c['max_abs_diff']:.3e}")
for v in variants:
    losses, secs = khub_curve(v)
    res[v] = {"use_kernels": v == "kernels", "khub_losses": losses, "seconds": secs, **compare(losses, ref)}
    json.dump(res, open(a.out, "w"), indent=1)  # what is done so far, should a later run fail
    c = res[v]
    print(f"  khub {v:8s} {losses[0]:.4f} -> {losses[-1]:.4f}  max rel {c['max_rel_diff']:.2e} "
          f"(step {c['max_rel_diff_step']}), max abs {c['max_abs_diff']:.3e}; logged: max rel "
          f"{c['max_rel_diff_logged']:.2e}; within 2% at every logged step: "
          f"{c['within_2pct_every_logged_step']}  ({secs:.0f} s)")
print("  step  transformers " + " ".join(f"{'khub ' + v:>12s} {'rel':>8s}" for v in variants))
for i in logged:
    print(f"  {i + 1:4d}  {ref[i]:12.4f} " +
          " ".join(f"{res[v]['khub_losses'][i]:12.4f} {res[v]['rel_diff'][i]:8.2e}" for v in variants))
json.dump(res, open(a.out, "w"), indent=1)
