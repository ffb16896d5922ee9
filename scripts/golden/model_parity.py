#!/usr/bin/env python3
"""Golden logits and greedy tokens from transformers for khub's parity tests.

Run on the GPU machine (torch + transformers installed). Input: checkpoints written by
`khub init-model` from tests/fixtures/parity/recipes.json (scripts/golden/make_parity_checkpoints.sh
writes them here and they travel with the device call). For each model it runs transformers in
float32 with eager attention on the CPU and writes <out>/<name>.golden.json: the logits of every
prompt position (as float32 little-endian bytes in base64, with shape) and max_new_tokens greedy
tokens from `generate` (KV cache on, eos disabled).
"""
import argparse, base64, json, os, sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipes", required=True)
    ap.add_argument("--checkpoints", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    recipes = json.load(open(args.recipes))
    prompt = recipes["prompt_ids"]
    n_new = recipes["max_new_tokens"]
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    for name in sorted(recipes["models"]):
        path = os.path.join(args.checkpoints, name)
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32,
                                                     attn_implementation="eager")
        model.eval()
        ids = torch.tensor([prompt], dtype=torch.long)
        with torch.no_grad():
            logits = model(ids).logits[0].float().numpy()
            gen = model.generate(ids, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False,
                                 eos_token_id=None, pad_token_id=0, use_cache=True)
        tokens = gen[0, len(prompt):].tolist()
        golden = {
            "transformers": transformers.__version__, "torch": torch.__version__,
            "logits_shape": list(logits.shape),
            "logits_f32_b64": base64.b64encode(np.ascontiguousarray(logits, "<f4").tobytes()).decode(),
            "greedy_tokens": tokens,
        }
        with open(os.path.join(args.out, name + ".golden.json"), "w") as f:
            json.dump(golden, f)
        print(name, "max|logit|=%.4f" % float(np.abs(logits).max()), "greedy", tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
