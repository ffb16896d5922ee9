#!/usr/bin/env python3
"""khub train on CUDA against transformers + torch.optim.AdamW: the same checkpoint, data and
hyper-parameters, step by step (issue 18's loss-curve check).

The text is tokenized with the model's tokenizer.json by HF `tokenizers` and cut into ROWS rows
of T tokens, written as {"input_ids": ...} lines for `khub train --data`. The batch is every row
(--batch ROWS), so each step of both sides sees the same tokens whatever khub's shuffle order
(the mean loss does not depend on the order of rows). Both run in f32 (TF32 off in torch), or with
--dtype bf16 in bf16 compute over f32 weights (khub's mixed precision; torch.autocast). The
checkpoint `khub init-model` writes has N(0, 1) embeddings (tied, so logits of std ~sqrt(hidden));
both sides start instead from it with the embedding scaled to transformers' initializer_range
(0.02), saved by transformers into a fresh folder.
Writes OUT (JSON): both curves and the largest relative difference of the logged losses.
  loss_curve.py KHUB MODEL_DIR TEXT OUT [--steps 200] [--rows 8] [--seq-len 128] [--lr 3e-4]
                [--dtype f32|bf16] [--use-kernels]
"""
import argparse, json, os, shutil, subprocess, tempfile

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
for a in ("khub", "model", "text", "out"): ap.add_argument(a)
ap.add_argument("--steps", type=int, default=200); ap.add_argument("--rows", type=int, default=8)
ap.add_argument("--seq-len", type=int, default=128); ap.add_argument("--lr", type=float, default=3e-4)
ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
ap.add_argument("--use-kernels", action="store_true", help="khub trains through the hub's kernels")
a = ap.parse_args()

ids = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json")).encode(
    open(a.text, encoding="utf-8").read(), add_special_tokens=False).ids
need = a.rows * a.seq_len
assert len(ids) >= need, f"{a.text}: {len(ids)} tokens, need {need}"
rows = [ids[r * a.seq_len:(r + 1) * a.seq_len] for r in range(a.rows)]
hyper = dict(lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

work = tempfile.mkdtemp()
init = os.path.join(work, "init")
m0 = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
with torch.no_grad():
    m0.get_input_embeddings().weight.mul_(m0.config.initializer_range)
m0.save_pretrained(init)
shutil.copy(os.path.join(a.model, "tokenizer.json"), init)
del m0
a.model = init
data = os.path.join(work, "rows.jsonl")
with open(data, "w") as f:
    for r in rows: f.write(json.dumps({"input_ids": r}) + "\n")
cmd = [a.khub, "train", "--model", a.model, "--data", data, "--out", os.path.join(work, "out"),
       "--steps", str(a.steps), "--batch", str(a.rows), "--seq-len", str(a.seq_len),
       "--lr", str(a.lr), "--betas", "0.9,0.999", "--eps", "1e-8", "--weight-decay", "0.01",
       "--device", "cuda", "--dtype", a.dtype, "--json"] + (["--use-kernels"] if a.use_kernels else [])
out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
khub = [json.loads(l)["loss"] for l in out.splitlines() if l.startswith("{") and '"loss"' in l]

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).cuda().train()
opt = torch.optim.AdamW(model.parameters(), **hyper)
x = torch.tensor(rows, device="cuda")
ref = []
amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.dtype == "bf16")
for s in range(a.steps):
    with amp:
        loss = model(x, labels=x).loss
    loss.backward(); opt.step(); opt.zero_grad()
    ref.append(loss.item())

n = min(len(khub), len(ref))
rel = [abs(k - r) / abs(r) for k, r in zip(khub[:n], ref[:n])]
logged = list(range(0, n, 10)) + [n - 1]
res = {"device": torch.cuda.get_device_name(0), "dtype": a.dtype, "use_kernels": a.use_kernels, "steps": a.steps, "rows": a.rows,
       "seq_len": a.seq_len, "hyper": {**hyper, "betas": list(hyper["betas"])},
       "text": os.path.basename(a.text), "tokens_per_step": need,
       "khub_losses": khub, "transformers_losses": ref,
       "max_rel_diff": max(rel), "max_rel_diff_logged_every_10": max(rel[i] for i in logged),
       "within_2pct_every_logged_step": all(rel[i] <= 0.02 for i in logged)}
json.dump(res, open(a.out, "w"), indent=1)
print(f"steps {n}: loss {khub[0]:.4f} -> {khub[n-1]:.4f} (khub), {ref[0]:.4f} -> {ref[n-1]:.4f} "
      f"(transformers); max rel diff {max(rel):.2e}; within 2% at every logged step: "
      f"{res['within_2pct_every_logged_step']}")
