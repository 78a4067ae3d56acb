"""Whether bf16 is worth using on the CPU this process runs on.

bf16 autocast pays on a CPU whose vector units compute in bf16 (AVX-512 BF16, AMX): there bf16 +
channels-last trained ~3x faster than float32 (configs/sample.yaml's note, an earlier measurement).
On one without (an AVX2-only CPU such as AMD's Zen 3), oneDNN has no bf16 kernels and PyTorch
converts to and from float32 around reference code: measured on a 2-core AMD EPYC (Zen 3, AVX2),
the demo's generator took 2.1 s a frame under bf16 autocast against 0.27-0.32 s in float32. So
"bf16 on the CPU" means "where the CPU has it".
"""

from __future__ import annotations

import functools

import torch

__all__ = ["cpu_has_native_bf16", "BF16_PRECISIONS"]

#: Lightning's precision names that compute in bf16.
BF16_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether oneDNN has bf16 kernels for this CPU (AVX-512 BF16 or AMX), where bf16 autocast is fast."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or oneDNN-less build: no fast bf16 to be had
        return False
