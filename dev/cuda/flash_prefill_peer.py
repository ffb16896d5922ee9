# Peer for dev/cuda/flash_prefill_check: torch SDPA, causal bf16 [4, 16, 4096, 128], each backend
# timed with CUDA events (median of 20 after 3 warm-ups); FLOPs = 4*B*H*S*S*D/2 as the check.
import torch, torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
B, H, S, D = 4, 16, 4096, 128
q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
flops = 4 * B * H * S * S * D / 2
def t(backend):
    ctx = sdpa_kernel([backend]) if backend is not None else torch.autograd.graph.saved_tensors_hooks(lambda x: x, lambda x: x)
    with ctx:
        for _ in range(3): F.scaled_dot_product_attention(q, k, v, is_causal=True)
        torch.cuda.synchronize()
        ms = []
        for _ in range(20):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); F.scaled_dot_product_attention(q, k, v, is_causal=True); b.record(); b.synchronize()
            ms.append(a.elapsed_time(b))
    ms.sort(); m = ms[len(ms)//2]
    return m, flops / m * 1e-9
for name, be in [("default", None), ("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION)]:
    try:
        m, tf = t(be); print(f"PEER sdpa {name:10s} {m:8.3f} ms {tf:7.1f} TFLOP/s")
    except Exception as e:
        print(f"PEER sdpa {name} failed: {e}")
print(torch.__version__, torch.cuda.get_device_name())
