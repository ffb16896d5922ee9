# transformers on the same GPU and the same random-weight checkpoint as khub's MoE benchmark
# (scripts/cuda/moe_checks.sh): decode tok/s at the given batch sizes and prefill tok/s, bf16, the
# model's MXFP4 experts dequantized to bf16 at load (Mxfp4Config(dequantize=True): khub's reference
# path runs bf16 experts too). Also the copy bandwidth, for the bandwidth limit.
#   python3 moe_transformers.py MODEL_DIR OUT.json [--batches 1,16] [--tokens 64] [--prompt-len 32]
#                               [--prefill 4096]
# Decode: generate() greedy with a fixed number of new tokens (min_new_tokens = max_new_tokens, so
# EOS never stops it early), timed over the decode steps only (the time of a 1-token generate,
# the prefill, is subtracted). Prefill: one forward over the prompt with logits_to_keep=1.
import argparse
import json
import time

import torch


def sync_time(fn, reps=3):
    fn()  # warm-up
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--prefill", type=int, default=4096)
    args = ap.parse_args()

    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(args.model)
    kwargs = {"dtype": torch.bfloat16, "device_map": "cuda"}
    if getattr(config, "quantization_config", None):
        from transformers import Mxfp4Config

        kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, **kwargs).eval()
    load_s = time.perf_counter() - t0
    vocab = config.vocab_size
    out = {
        "device": torch.cuda.get_device_properties(0).name,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "load_seconds": load_s,
        "decode_tokens_per_sequence": args.tokens,
        "prompt_len": args.prompt_len,
        "decode": [],
    }
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    out["copy_TBps"] = 2 * n / sync_time(lambda: b.copy_(a), reps=5) / 1e12
    del a, b

    with torch.inference_mode():
        for batch in [int(x) for x in args.batches.split(",")]:
            # The prompts khub's bench uses: (s·31 + i·7 + 1) mod vocab.
            ids = torch.tensor(
                [[(s * 31 + i * 7 + 1) % vocab for i in range(args.prompt_len)] for s in range(batch)],
                device="cuda",
            )
            mask = torch.ones_like(ids)

            def gen(n_new):
                return model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=n_new,
                    min_new_tokens=n_new,
                    do_sample=False,
                    pad_token_id=config.pad_token_id if config.pad_token_id is not None else 0,
                )

            full = sync_time(lambda: gen(args.tokens))
            first = sync_time(lambda: gen(1))
            decode_s = max(full - first, 1e-9)
            out["decode"].append(
                {
                    "batch": batch,
                    "tokens_per_s": batch * (args.tokens - 1) / decode_s,
                    "ms_per_step": decode_s * 1e3 / (args.tokens - 1),
                    "seconds_total": full,
                }
            )
            print(f"transformers decode b{batch}: {out['decode'][-1]['tokens_per_s']:.1f} tok/s")
        if args.prefill > 0:
            ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(args.prefill)]], device="cuda")
            sec = sync_time(lambda: model(input_ids=ids, logits_to_keep=1, use_cache=True))
            out["prefill"] = {"tokens": args.prefill, "tokens_per_s": args.prefill / sec, "ms": sec * 1e3}
            print(f"transformers prefill {args.prefill}: {args.prefill / sec:.1f} tok/s")
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
