#!/usr/bin/env python3
"""Golden training references from transformers + torch for khub's training tests.

Run on the GPU machine (torch + transformers installed), on the CPU in float32 with eager
attention. Input: checkpoints written by `khub init-model` from tests/fixtures/training/recipes.json
(scripts/golden/make_parity_checkpoints.sh RECIPES writes them). For each model it writes
<out>/<name>.golden.json with
  loss        model(input_ids, attention_mask, labels).loss of the recipe's batch (shorter rows
              right-padded with id 0, attention_mask 0 and label -100 there)
  grad_norms  {parameter name: L2 norm of its gradient} after loss.backward() (named_parameters:
              a tied lm_head appears once, under the embedding's name)
  adamw_losses  the loss before each of `steps` torch.optim.AdamW updates on that batch
  sgd_losses    the same for torch.optim.SGD (momentum) with clip_grad_norm_(clip) before each step
  sgd_grad_norms  the total norm clip_grad_norm_ returned at each SGD step
"""
import argparse, json, os, sys

import torch
import transformers
from transformers import AutoModelForCausalLM


def batch_tensors(batch):
    rows = batch["input_ids"]
    labels = batch.get("labels") or rows
    t = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), t), dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    lab = torch.full((len(rows), t), -100, dtype=torch.long)
    for b, (r, l) in enumerate(zip(rows, labels)):
        ids[b, :len(r)] = torch.tensor(r)
        mask[b, :len(r)] = 1
        lab[b, :len(l)] = torch.tensor(l)
    return ids, mask, lab


def load(path):
    m = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32,
                                             attn_implementation="eager")
    m.train()  # dropout is 0 in these configs; train() as a training loop would call it
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipes", required=True)
    ap.add_argument("--checkpoints", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    r = json.load(open(args.recipes))
    ids, mask, labels = batch_tensors(r["batch"])
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    for name in sorted(r["models"]):
        path = os.path.join(args.checkpoints, name)
        model = load(path)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        norms = {n: float(p.grad.norm()) for n, p in model.named_parameters()}
        golden = {"transformers": transformers.__version__, "torch": torch.__version__,
                  "loss": float(loss), "grad_norms": norms}

        a = r["adamw"]
        model = load(path)
        opt = torch.optim.AdamW(model.parameters(), lr=a["lr"], betas=tuple(a["betas"]),
                                eps=a["eps"], weight_decay=a["weight_decay"])
        losses = []
        for _ in range(a["steps"]):
            opt.zero_grad()
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            losses.append(float(loss))
            opt.step()
        golden["adamw_losses"] = losses

        s = r["sgd"]
        model = load(path)
        opt = torch.optim.SGD(model.parameters(), lr=s["lr"], momentum=s["momentum"],
                              weight_decay=s["weight_decay"])
        losses, gnorms = [], []
        for _ in range(s["steps"]):
            opt.zero_grad()
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            losses.append(float(loss))
            gnorms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), s["clip"])))
            opt.step()
        golden["sgd_losses"] = losses
        golden["sgd_grad_norms"] = gnorms
        with open(os.path.join(args.out, name + ".golden.json"), "w") as f:
            json.dump(golden, f, indent=1, sort_keys=True)
        print(name, "loss %.6f" % golden["loss"], "adamw", ["%.5f" % x for x in golden["adamw_losses"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
