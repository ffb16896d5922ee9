"""khub from Python: hub kernels on numpy arrays and torch tensors, and models with kernels.

    import khub, numpy as np
    rms = khub.get_kernel("khub-community/rmsnorm@^1")
    out = np.empty_like(x)
    rms.rms_norm_forward(x, weight, out, eps=1e-6)      # writes out in place, returns it

    model = khub.AutoModelForCausalLM.from_pretrained("models/tiny", use_kernels=True)
    ids = model.generate([1, 2, 3], max_new_tokens=8)
    model.kernel_report()

Everything runs in khub's C++ library (libkhub): resolution, the cache, kernels.lock, signature and
trust checks are the ones the khub CLI applies. docs/python.md has the details.
"""
import os as _os

from . import _khub
from ._khub import (  # noqa: F401
    AutoTokenizer,
    CausalLM,
    FormatError,
    InternalError,
    InvalidArgumentError,
    IoError,
    Kernel,
    KernelError,
    KernelFunction,
    KhubError,
    NetworkError,
    NotFoundError,
    UnsupportedError,
    VerificationError,
    get_kernel,
    get_local_kernel,
    has_kernel,
    hub_search_path,
    program_dir,
    set_program_dir,
)

__version__ = _khub.__version__


def _bundled_program_dir():
    """The folder standing for khub's bin/ beside this package.

    In a build tree (build/python/khub) that is build/python, so the bundled hub is build/hub and
    the install trust policy build/share/khub/trust-policy.toml, as for build/bin/khub. Installed
    with pip, the package carries no hub: None (KHUB_HUB_PATH, hub= or the HTTP hub then).
    """
    here = _os.path.dirname(_os.path.abspath(__file__))
    parent = _os.path.dirname(here)
    if _os.path.isdir(_os.path.join(parent, "..", "hub")) or _os.path.isdir(
            _os.path.join(parent, "..", "share", "khub")):
        return parent
    return None


if _os.environ.get("KHUB_PROGRAM_DIR"):
    set_program_dir(_os.environ["KHUB_PROGRAM_DIR"])
elif _bundled_program_dir() is not None:
    set_program_dir(_bundled_program_dir())


class AutoModelForCausalLM:
    """transformers' AutoModelForCausalLM, backed by khub::CausalLM."""

    def __init__(self):
        raise TypeError("use AutoModelForCausalLM.from_pretrained(path, ...)")

    @staticmethod
    def from_pretrained(path, *, use_kernels=False, device="cpu", dtype=None, kernel_config=None,
                        attn_implementation=None, mode=None, strict=False, lockfile=None,
                        torch_dtype=None):
        """Loads an HF model directory (config.json + safetensors) as `khub generate --model`.

        use_kernels: swap layers for hub kernels (the default mapping); kernel_config: a dict
        ({"RMSNorm": "khub-community/rmsnorm@^1:RMSNorm"} or {"kernel_mapping": {...}}) or a JSON
        file; dtype: "f32", "bf16", "f16" or a torch/numpy dtype (torch_dtype= as transformers);
        mode: "inference", "training", "inference,compile"; lockfile: None (the nearest
        kernels.lock above the working directory, when kernels are on), False, or a path.
        """
        if torch_dtype is not None:
            if dtype is not None:
                raise InvalidArgumentError("from_pretrained: give dtype= or torch_dtype=, not both")
            dtype = torch_dtype
        return _khub._from_pretrained(path, use_kernels=use_kernels, device=device, dtype=dtype,
                                      kernel_config=kernel_config,
                                      attn_implementation=attn_implementation or "", mode=mode,
                                      strict=strict, lockfile=lockfile)
