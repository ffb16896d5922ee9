#!/usr/bin/env python3
"""Tiny safetensors fixtures for khub's io tests, and their check against HF's `safetensors`.

Without arguments, writes the fixtures into tests/io/fixtures/ using only the standard library,
following the published format (huggingface/safetensors, docs "Format"): an 8-byte little-endian
header length, a compact JSON header ("__metadata__" first, then per tensor {"dtype", "shape",
"data_offsets"}), tensors ordered by descending dtype alignment then name, the header padded with
spaces to a multiple of 8, then the raw little-endian bytes.

With --check (run where `safetensors`, numpy and torch are installed, e.g. the GPU machine), loads
each committed fixture with the real library (safetensors.numpy / safetensors.torch), compares the
values with the formulas below, re-serializes the loaded tensors with the real library and
compares the bytes with the committed file, and prints OK or the mismatches (exit status 1).

The C++ test tests/io/safetensors_golden_test.cc checks the same values and that khub's writer
produces the same bytes.
"""
import argparse
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "io", "fixtures"))

# HF's Dtype order (increasing alignment); the writer sorts by it, descending, then by name.
DTYPE_RANK = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32",
              "F32", "F64", "I64", "U64"]
STRUCT = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "I16": "h", "I8": "b",
          "U8": "B", "U16": "H", "U32": "I", "U64": "Q", "BOOL": "?"}
SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
        "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}

# fp8 test patterns and the values they encode (E4M3: bias 7, E5M2: bias 15).
F8_E4M3 = [(0x38, 1.0), (0x40, 2.0), (0x30, 0.5), (0xB8, -1.0), (0x44, 3.0)]
F8_E5M2 = [(0x3C, 1.0), (0x40, 2.0), (0x38, 0.5), (0xBC, -1.0), (0x42, 3.0)]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def values(dtype, n):
    """Element i of a fixture tensor (the C++ test uses the same formulas)."""
    if dtype in ("F64", "F32", "F16", "BF16"):
        return [(i - 2) * 0.5 for i in range(n)]   # exact in every float type
    if dtype == "F8_E4M3":
        return [F8_E4M3[i % 5][1] for i in range(n)]
    if dtype == "F8_E5M2":
        return [F8_E5M2[i % 5][1] for i in range(n)]
    if dtype == "BOOL":
        return [i % 3 == 0 for i in range(n)]
    if dtype in ("I64", "U64"):
        return [(1 << 40) + 7 * i if dtype == "U64" else -(1 << 40) + 7 * i for i in range(n)]
    if dtype.startswith("I"):
        return [i * 37 - 50 for i in range(n)]
    return [i * 37 + 1 for i in range(n)]          # U8, U16, U32


def raw(dtype, n):
    if dtype == "BF16":  # the upper half of the f32 bits (exact for these values)
        return b"".join(struct.pack("<f", v)[2:] for v in values(dtype, n))
    if dtype == "F8_E4M3":
        return bytes(F8_E4M3[i % 5][0] for i in range(n))
    if dtype == "F8_E5M2":
        return bytes(F8_E5M2[i % 5][0] for i in range(n))
    return struct.pack("<%d%s" % (n, STRUCT[dtype]), *values(dtype, n))


def serialize(tensors, metadata):
    """tensors: {name: (dtype, shape)}; returns the file bytes."""
    order = sorted(tensors, key=lambda k: (-DTYPE_RANK.index(tensors[k][0]), k))
    header, offset, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name in order:
        dtype, shape = tensors[name]
        b = raw(dtype, numel(shape))
        assert len(b) == numel(shape) * SIZE[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        data += b
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


# name -> (tensors, metadata, which library reads it in --check)
NUMPY_FIXTURE = {
    "f64": ("F64", [2, 3]), "f32": ("F32", [3, 2]), "f16": ("F16", [4]), "i64": ("I64", [2]),
    "i32": ("I32", [2, 2]), "i16": ("I16", [3]), "i8": ("I8", [5]), "u8": ("U8", [2, 3]),
    "bool": ("BOOL", [4]), "u16": ("U16", [2]), "u32": ("U32", [2]), "u64": ("U64", [2]),
    "scalar": ("F32", []), "empty": ("F32", [0, 3]),
}
TORCH_FIXTURE = {
    "bf16": ("BF16", [2, 3]), "f8_e4m3": ("F8_E4M3", [5]), "f8_e5m2": ("F8_E5M2", [5]),
    "model.layers.0.weight": ("F16", [2, 2]),
}
SHARD_1 = {"model.embed_tokens.weight": ("F32", [4, 2]), "model.norm.weight": ("F32", [2])}
SHARD_2 = {"lm_head.weight": ("BF16", [4, 2])}

FIXTURES = {
    "all_numpy_dtypes.safetensors": (NUMPY_FIXTURE, {"format": "np"}, "numpy"),
    "torch_dtypes.safetensors": (TORCH_FIXTURE, {"format": "pt"}, "torch"),
    "sharded/model-00001-of-00002.safetensors": (SHARD_1, {"format": "pt"}, "numpy"),
    "sharded/model-00002-of-00002.safetensors": (SHARD_2, {"format": "pt"}, "torch"),
}


def index_json():
    weight_map, total = {}, 0
    for fname, (tensors, _, _) in FIXTURES.items():
        if fname.startswith("sharded/"):
            for name, (dtype, shape) in tensors.items():
                weight_map[name] = os.path.basename(fname)
                total += numel(shape) * SIZE[dtype]
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    return json.dumps(index, indent=2, sort_keys=True) + "\n"  # as transformers writes it


def write():
    os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
    for fname, (tensors, metadata, _) in FIXTURES.items():
        with open(os.path.join(OUT, fname), "wb") as f:
            f.write(serialize(tensors, metadata))
    with open(os.path.join(OUT, "sharded", "model.safetensors.index.json"), "w") as f:
        f.write(index_json())
    print("wrote fixtures into", OUT)


def check():
    import numpy as np
    import safetensors
    import safetensors.numpy
    import safetensors.torch
    import torch

    problems = []
    for fname, (tensors, metadata, lib) in FIXTURES.items():
        path = os.path.join(OUT, fname)
        committed = open(path, "rb").read()
        if lib == "numpy":
            loaded = safetensors.numpy.load_file(path)
            again = safetensors.numpy.save(loaded, metadata=metadata)
        else:
            loaded = safetensors.torch.load_file(path)
            again = safetensors.torch.save(loaded, metadata=metadata)
        with safetensors.safe_open(path, framework="np" if lib == "numpy" else "pt") as f:
            if f.metadata() != metadata:
                problems.append("%s: metadata %r, expected %r" % (fname, f.metadata(), metadata))
        if sorted(loaded) != sorted(tensors):
            problems.append("%s: names %r, expected %r" % (fname, sorted(loaded), sorted(tensors)))
            continue
        for name, (dtype, shape) in tensors.items():
            t = loaded[name]
            if list(t.shape) != shape:
                problems.append("%s/%s: shape %r, expected %r" % (fname, name, list(t.shape), shape))
                continue
            if lib == "numpy":
                got = np.asarray(t).reshape(-1).tolist()
            else:
                got = t.reshape(-1).float().tolist() if t.is_floating_point() else t.reshape(-1).tolist()
            want = values(dtype, numel(shape))
            if [float(x) for x in got] != [float(x) for x in want]:
                problems.append("%s/%s: values %r, expected %r" % (fname, name, got, want))
        if again != committed:
            problems.append("%s: safetensors %s re-serializes to different bytes" %
                            (fname, safetensors.__version__))
    index_path = os.path.join(OUT, "sharded", "model.safetensors.index.json")
    if open(index_path).read() != index_json():
        problems.append("sharded/model.safetensors.index.json differs from the expected index")
    if problems:
        print("mismatch:")
        for p in problems:
            print("  " + p)
        return 1
    print("OK: %d fixtures match safetensors %s (torch %s, numpy %s)" %
          (len(FIXTURES), safetensors.__version__, torch.__version__, np.__version__))
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="verify the committed fixtures with the real safetensors library")
    args = ap.parse_args()
    sys.exit(check() if args.check else write())
