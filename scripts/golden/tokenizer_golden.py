#!/usr/bin/env python3
"""Golden data for khub's tokenizer parity tests, produced with Hugging Face `tokenizers` and
`transformers` (run where both are installed; khub's tests never need them).

  tokenizer_golden.py --tok qwen3=DIR --tok llama3=DIR --tok gemma3=DIR \
      --corpus corpus.jsonl --chat chat_conversations.json --features jinja_features.jinja \
      --out OUTDIR [--bench-mb 6]

Writes, per tokenizer NAME:
  OUTDIR/NAME.ids.jsonl     one line per corpus text: ids without and with special tokens, and
                            decode(ids_with_special) with skip_special_tokens False and True
  OUTDIR/chat.json          transformers' apply_chat_template strings (or the error text) for every
                            case x tokenizer, plus the feature template rendered for each case
  OUTDIR/hf_bench.json      (with --bench-mb) HF tokenizers encode throughput on the bench corpus
"""
import argparse
import json
import os
import platform
import sys
import time
import traceback


def bench_corpus(texts, min_bytes):
    """The reproducible benchmark corpus; bench/tokenizer_bench.cc implements the same generator."""
    state = 0x2545F4914F6CDD1D
    mask = (1 << 64) - 1

    def nxt():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        return state >> 33

    docs, total = [], 0
    while total < min_bytes:
        parts = []
        for _ in range(nxt() % 24 + 1):
            r = nxt() % 5
            if r == 0:
                parts.append(str(nxt()))
            elif r == 1:
                n = nxt() % 10 + 1
                parts.append("".join(chr(ord("a") + nxt() % 26) for _ in range(n)))
            else:
                parts.append(texts[nxt() % len(texts)])
        doc = " ".join(parts)
        docs.append(doc)
        total += len(doc.encode("utf-8"))
    return docs, total


def golden_ids(name, path, texts, out):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    with open(os.path.join(out, f"{name}.ids.jsonl"), "w", encoding="utf-8") as f:
        for t in texts:
            plain = tok.encode(t, add_special_tokens=False).ids
            special = tok.encode(t, add_special_tokens=True).ids
            row = {"ids": plain, "ids_special": special,
                   "decoded": tok.decode(special, skip_special_tokens=False),
                   "decoded_skip": tok.decode(special, skip_special_tokens=True)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return tok


def fast_tokenizer(path):
    from transformers import PreTrainedTokenizerFast
    with open(os.path.join(path, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    kw = {k: (v["content"] if isinstance(v, dict) else v) for k, v in cfg.items()
          if k.endswith("_token") and v is not None}
    return PreTrainedTokenizerFast(tokenizer_file=os.path.join(path, "tokenizer.json"),
                                   chat_template=cfg.get("chat_template"), **kw)


def golden_chat(tok_dirs, chat, features_template):
    from transformers import AutoTokenizer
    import transformers
    result = {"transformers": transformers.__version__, "tokenizers": {}, "features": {}}
    convs, tools = chat["conversations"], chat["tools"]
    features_done = False
    for name, path in tok_dirs.items():
        rows = []
        tok, how = None, ""
        try:
            tok, how = AutoTokenizer.from_pretrained(path), "AutoTokenizer"
        except Exception as e:  # noqa: BLE001 - try the generic fast tokenizer next
            print(f"{name}: AutoTokenizer failed: {e!r}", file=sys.stderr)
            try:
                tok, how = fast_tokenizer(path), "PreTrainedTokenizerFast"
            except Exception as e2:  # noqa: BLE001 - recorded, the tests then skip it
                result["tokenizers"][name] = {"load_error": repr(e) + " / " + repr(e2)}
                continue
        for case in chat["cases"]:
            kwargs = dict(case["kwargs"])
            if kwargs.get("tools"):
                kwargs["tools"] = tools
            else:
                kwargs.pop("tools", None)
            row = {"conversation": case["conversation"], "kwargs": case["kwargs"]}
            try:
                row["output"] = tok.apply_chat_template(convs[case["conversation"]], tokenize=False,
                                                        **kwargs)
            except Exception as e:  # noqa: BLE001 - the expected error is part of the golden
                row["error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
        result["tokenizers"][name] = {"cases": rows, "loaded_with": how}
        if not features_done:
            feats = []
            for case in chat["cases"]:
                kwargs = dict(case["kwargs"])
                kwargs["tools"] = tools if kwargs.get("tools") else None
                row = {"conversation": case["conversation"], "kwargs": case["kwargs"],
                       "special_tokens_of": name}
                try:
                    row["output"] = tok.apply_chat_template(
                        convs[case["conversation"]], chat_template=features_template,
                        tokenize=False, **kwargs)
                except Exception as e:  # noqa: BLE001
                    row["error"] = f"{type(e).__name__}: {e}"
                feats.append(row)
            result["features"] = {"special_tokens_of": name, "cases": feats}
            features_done = True
    return result


def hf_bench(tok_dirs, texts, mb):
    from tokenizers import Tokenizer
    import tokenizers
    docs, total = bench_corpus(texts, int(mb * 1e6))
    res = {"tokenizers_version": tokenizers.__version__, "bytes": total, "docs": len(docs),
           "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "results": {}}
    for name, path in tok_dirs.items():
        tok = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        tok.encode_batch(docs[:200], add_special_tokens=False)  # warm up
        t0 = time.perf_counter()
        n_single = 0
        for d in docs:
            n_single += len(tok.encode(d, add_special_tokens=False).ids)
        t1 = time.perf_counter()
        encs = tok.encode_batch(docs, add_special_tokens=False)
        t2 = time.perf_counter()
        n_batch = sum(len(e.ids) for e in encs)
        res["results"][name] = {"single_mb_s": total / 1e6 / (t1 - t0), "tokens": n_single,
                                "batch_mb_s": total / 1e6 / (t2 - t1), "batch_tokens": n_batch}
        print(name, res["results"][name], file=sys.stderr)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tok", action="append", required=True, help="NAME=DIR")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--chat", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench-mb", type=float, default=0)
    a = ap.parse_args()
    tok_dirs = dict(t.split("=", 1) for t in a.tok)
    with open(a.corpus, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f if line.strip()]
    os.makedirs(a.out, exist_ok=True)
    import tokenizers
    print("tokenizers", tokenizers.__version__, file=sys.stderr)
    for name, path in tok_dirs.items():
        try:
            golden_ids(name, path, texts, a.out)
        except Exception:  # noqa: BLE001 - keep the other outputs
            traceback.print_exc()
    with open(a.chat, encoding="utf-8") as f:
        chat = json.load(f)
    with open(a.features, encoding="utf-8") as f:
        features = f.read()
    try:
        res = golden_chat(tok_dirs, chat, features)
        with open(os.path.join(a.out, "chat.json"), "w", encoding="utf-8") as f:
            json.dump(res, f, ensure_ascii=False, indent=1)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    if a.bench_mb > 0:
        res = hf_bench(tok_dirs, texts, a.bench_mb)
        with open(os.path.join(a.out, "hf_bench.json"), "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
