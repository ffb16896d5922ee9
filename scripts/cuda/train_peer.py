#!/usr/bin/env python3
"""transformers + torch.optim.AdamW on the same checkpoint and step as `khub bench train`.

One step: model(x, labels=x).loss.backward(), AdamW step, zero_grad — on a batch of B rows of T
tokens (the ids khub bench train uses), in f32 (khub's CUDA reference path computes in f32 too)
and in bf16. Prints a table and writes JSON: tok/s and peak GPU memory per dtype.
  train_peer.py MODEL_DIR OUT_JSON [--batch 4] [--seq-len 1024] [--steps 3]
"""
import argparse, json, time

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("model"); ap.add_argument("out")
ap.add_argument("--batch", type=int, default=4); ap.add_argument("--seq-len", type=int, default=1024)
ap.add_argument("--steps", type=int, default=3)
a = ap.parse_args()

res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": []}
for name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).cuda().train()
    if dtype == torch.float32:
        torch.backends.cuda.matmul.allow_tf32 = False
    vocab = model.config.vocab_size
    rows = [[(s * 131 + i * 7 + 1) % vocab for i in range(a.seq_len)] for s in range(a.batch)]
    x = torch.tensor(rows, device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times, loss = [], None
    try:
        for s in range(a.steps + 1):
            torch.cuda.synchronize(); t0 = time.time()
            l = model(x, labels=x).loss; l.backward(); opt.step(); opt.zero_grad(set_to_none=False)
            torch.cuda.synchronize()
            if s > 0: times.append(time.time() - t0)
            loss = l.item()
        times.sort(); sec = times[len(times) // 2]
        r = {"dtype": name, "tokens_per_s": a.batch * a.seq_len / sec, "seconds_per_step": sec,
             "peak_mem_bytes": torch.cuda.max_memory_allocated(), "last_loss": loss}
    except torch.cuda.OutOfMemoryError as e:
        r = {"dtype": name, "error": "out of memory: " + str(e)[:200]}
    print(r, flush=True)
    res["results"].append(r)
    del model, opt
json.dump(res, open(a.out, "w"), indent=1)
