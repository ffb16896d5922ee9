#!/usr/bin/env python3
"""transformers + torch.optim.AdamW on the same checkpoint and step as `khub bench train`.

One step: model(x, labels=x).loss.backward(), AdamW step, zero_grad — on a batch of B rows of T
tokens (the ids khub bench train uses). Variants (--variants, comma-separated):
  f32       f32 weights and compute, TF32 off (khub's f32 CUDA reference path computes so too)
  bf16      weights, gradients and AdamW state in bf16 (from_pretrained(dtype=bfloat16))
  autocast  f32 master weights, gradients and AdamW state, bf16 compute under torch.autocast:
            the same precision recipe as khub's --dtype bf16 (f32 masters, bf16 activations)
  compile   autocast with the model under torch.compile (skipped with the reason if it fails)
Prints a table and writes JSON: tok/s and peak GPU memory per variant; an out-of-memory variant
records the error instead (batch 8 x 2048 may not fit).
  train_peer.py MODEL_DIR OUT_JSON [--batch 4] [--seq-len 1024] [--steps 3] [--variants ...]
"""
import argparse, contextlib, json, time

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("model"); ap.add_argument("out")
ap.add_argument("--batch", type=int, default=4); ap.add_argument("--seq-len", type=int, default=1024)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--variants", default="f32,bf16")
a = ap.parse_args()

res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": a.batch,
       "seq_len": a.seq_len, "results": []}
for name in a.variants.split(","):
    if name not in ("f32", "bf16", "autocast", "compile"):
        raise SystemExit(f"train_peer: unknown variant {name!r} (f32, bf16, autocast, compile)")
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    torch.backends.cuda.matmul.allow_tf32 = False
    weights = torch.bfloat16 if name == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=weights).cuda().train()
    step_model = model
    if name == "compile":
        step_model = torch.compile(model)
    mixed = name in ("autocast", "compile")
    vocab = model.config.vocab_size
    rows = [[(s * 131 + i * 7 + 1) % vocab for i in range(a.seq_len)] for s in range(a.batch)]
    x = torch.tensor(rows, device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times, loss = [], None
    try:
        for s in range(a.steps + 1):
            torch.cuda.synchronize(); t0 = time.time()
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if mixed else contextlib.nullcontext()
            with ctx:
                l = step_model(x, labels=x).loss
            l.backward(); opt.step(); opt.zero_grad(set_to_none=False)
            torch.cuda.synchronize()
            if s > 0: times.append(time.time() - t0)
            loss = l.item()
        times.sort(); sec = times[len(times) // 2]
        r = {"variant": name, "dtype": name, "tokens_per_s": a.batch * a.seq_len / sec,
             "seconds_per_step": sec, "peak_mem_bytes": torch.cuda.max_memory_allocated(),
             "last_loss": loss}
    except torch.cuda.OutOfMemoryError as e:
        r = {"variant": name, "dtype": name, "error": "out of memory: " + str(e)[:200]}
    except Exception as e:  # torch.compile failing on this machine is a result, not a crash
        if name != "compile": raise
        r = {"variant": name, "dtype": name, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    print(r, flush=True)
    res["results"].append(r)
    del model, step_model, opt
json.dump(res, open(a.out, "w"), indent=1)
