# The hardware ceilings and the attention peers of shared/bench/peers.py, re-measured on the GPU
# that runs khub's checks (the transformers decode peers take minutes and are not repeated):
# copy bandwidth, bf16 GEMM rate, and PyTorch SDPA causal attention (B=4, H=16, S=4096, D=128,
# bf16) with its default, flash and cuDNN backends. Run: python3 peers_subset.py OUT.json
import json
import sys

import torch
import torch.nn.functional as F


def median_seconds(fn, warm=3, rep=10):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(rep):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


out = {"device": torch.cuda.get_device_properties(0).name, "torch": torch.__version__}
n = 1 << 30
a = torch.empty(n, dtype=torch.uint8, device="cuda").random_(0, 255)
b = torch.empty_like(a)
out["copy_TBps"] = 2 * n / median_seconds(lambda: b.copy_(a)) / 1e12
x = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
y = torch.randn_like(x)
out["bf16_gemm_TFLOPs"] = 2 * 8192**3 / median_seconds(lambda: x @ y) / 1e12
del a, b, x, y
B, H, S, D = 4, 16, 4096, 128
q = torch.randn(B, H, S, D, dtype=torch.bfloat16, device="cuda")
k, v = torch.randn_like(q), torch.randn_like(q)
flops = 4 * B * H * S * S * D / 2
sdpa = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
out["sdpa_causal_fwd_TFLOPs"] = flops / median_seconds(sdpa) / 1e12
from torch.nn.attention import SDPBackend, sdpa_kernel

for name, backend in [("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)]:
    try:
        with sdpa_kernel(backend):
            out[f"sdpa_{name}_causal_fwd_TFLOPs"] = flops / median_seconds(sdpa) / 1e12
    except Exception as e:  # a backend the build lacks
        out[f"sdpa_{name}_error"] = repr(e)[:200]
for key, value in out.items():
    print(f"{key:36s} {value:.4g}" if isinstance(value, float) else f"{key:36s} {value}")
json.dump(out, open(sys.argv[1], "w"), indent=1)
