"""The conditional GAN's training logic, and nothing else.

Networks, losses and optimizers are injected (chosen in YAML by ``class_path``), so the
paper's four experiments differ only in configuration. Evaluation, pictures and
checkpoints live in callbacks (:mod:`colorize.training.callbacks`, :mod:`colorize.evaluation.report`).

Batches arrive as produced by :class:`colorize.data.datamodule.ColorizationDataModule`
after ``on_after_batch_transfer``: ``L (B, 1, H, W)`` in [-1, 1] and ``ab (B, 2, H, W)``
in about [-1, 1], already on the device; with ``data.hints`` training batches also carry
``hints (B, 3, H, W)`` (:mod:`colorize.data.hints`) for a generator built with ``hints: true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import nn

from colorize.evaluation.metrics import PixelAccuracy
from colorize.models.hints import HINT_CHANNELS, HINT_MODULES, takes_hints
from colorize.models.mirror_average import colorizing_network
from colorize.models.weight_average import WeightAverage
from colorize.training.losses import GANLoss

_NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)

#: Init arguments that are objects (networks, loss, optimizer factories) rather than plain values.
INJECTED = ("generator", "discriminator", "perceptual_loss", "generator_optimizer", "discriminator_optimizer")


def _built_by_cli() -> bool:
    """Whether LightningCLI is instantiating this module, handing ``save_hyperparameters`` its parsed config.

    Lightning keeps that config in a context variable while it calls ``__init__`` (its
    ``load_from_checkpoint_support``); the variable is private, so a Lightning without it
    reads as "not under the CLI" and checkpoints fall back to today's plain hyperparameters.
    """
    try:
        from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
    except ImportError:  # pragma: no cover - a Lightning that moved it
        return False
    return _given_hyperparameters.get() is not None


def paper_adam(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam as in the paper's code (and pix2pix): lr 2e-4, betas (0.5, 0.999).

    beta1 = 0.5 rather than Adam's 0.9: with two players, a long momentum keeps pushing
    in a direction the other player has already made wrong.
    """
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


class ColorizationGAN(L.LightningModule):
    """pix2pix-style conditional GAN: G maps L to ab, D judges ``cat(L, ab)`` patch by patch.

    A generator that takes colour hints (:mod:`colorize.models.hints`) is conditioned on L and the
    hints; the discriminator then sees ``cat(L, hints, ab)`` (pix2pix's rule: D sees what G is
    conditioned on), so it can tell an output that ignores a hint from a real photo, whose colour
    always agrees with the hints drawn from it.

    Args:
        generator: ``(B, 1, H, W)`` L in [-1, 1] -> ``(B, 2, H, W)`` ab in [-1, 1]; optionally also
            taking hints ``(B, 3, H, W)`` (``hints: true``).
        discriminator: ``(B, 3, H, W)`` ``cat(L, ab)`` -> patch logits ``(B, 1, h, w)``; ``(B, 6, H, W)``
            ``cat(L, hints, ab)`` for a generator that takes hints.
        generator_optimizer, discriminator_optimizer: callables taking parameters
            (``OptimizerCallable`` in the CLI); default: the paper's Adam.
        gan_mode: ``vanilla`` (the paper: BCE with logits) or ``lsgan`` (least squares).
        lambda_l1: weight of the L1 term (the paper's λ = 100).
        perceptual_loss: optional module ``(ab_fake, ab_real) -> scalar`` (the paper's
            third experiment uses :class:`colorize.training.losses.PerceptualLoss`).
        lambda_perceptual: its weight (the paper's future work asks for this knob).
        l1_warmup_epochs: epochs of L1(+perceptual)-only generator training before the
            adversarial game starts (the tutorial the paper builds on pretrains its
            ResNet18 UNet this way); 0 = the paper.
        lr_decay_epochs: pix2pix's schedule: keep the learning rate for
            ``max_epochs - lr_decay_epochs`` epochs, then decay it linearly to zero; 0 = off.
        channels_last: run both networks in channels-last memory format (several times
            faster with bf16 on CPUs with AMX/AVX-512 and on tensor-core GPUs).
        freeze_encoder_epochs: epochs during which the generator's encoder
            (``generator.encoder``) is frozen but for its normalization layers: fastai's recipe
            for a UNet on a pretrained encoder, so the random decoder first learns to read the
            ImageNet features before its large early gradients reach (and wreck) them. It also
            makes those epochs cheaper: no backward pass through the encoder. 0 = off.
        encoder_lr_scale: the encoder's learning rate as a share of the generator's (fastai's
            discriminative learning rates): below 1, a pretrained encoder is fine-tuned gently
            while the decoder learns at full speed, so a few hundred photos do not wash out
            what ImageNet taught it. 1 = one learning rate for the whole generator (the paper).
        hint_lr_scale: the learning rate of a hint generator's hint modules (``hint_levels``,
            ``hint_head``, ``hint_gate``: :mod:`colorize.models.hints`) as a multiple of the generator's. They
            start at zero and must learn, in the few hundred steps of a CPU run, to pass a hint's
            colour on; they are never frozen with the encoder. 1 = the generator's own rate.
        ema_decay: keep an exponential moving average of the generator's weights
            (:class:`colorize.models.weight_average.WeightAverage`), updated after every
            generator step; validation, test, predict and checkpoint readers colorize with the
            average, which smooths out the step-to-step noise of the adversarial game. Its
            half-life is ``ln 2 / -ln(ema_decay)`` steps (0.98: 34). 0 = off (the paper).
        compile: compile the generator and the discriminator with ``torch.compile`` when
            training starts (``nn.Module.compile``: in place, so checkpoints keep their plain
            parameter names and load into uncompiled networks). It fuses the element-wise work
            around each convolution (batch norm, activations, casts) that bf16 leaves memory-bound;
            the first steps pay the compilation (about a minute on a CPU), so it pays for runs of
            more than a few hundred steps (``benchmarks/RESULTS.md``). Training only: test and
            predict run the networks as they are.
        mirror_average: outside training, colorize each photo and its mirror image and average
            the two (:class:`colorize.models.mirror_average.MirrorAverage`): twice the inference
            work for a steadier colour. Validation, test, predict, ``colorize serve`` and exports
            all colorize this way, so every number describes what the model delivers. False = the paper.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_optimizer: OptimizerCallable = paper_adam,
        discriminator_optimizer: OptimizerCallable = paper_adam,
        gan_mode: Literal["vanilla", "lsgan"] = "vanilla",
        lambda_l1: float = 100.0,
        perceptual_loss: nn.Module | None = None,
        lambda_perceptual: float = 1.0,
        l1_warmup_epochs: int = 0,
        lr_decay_epochs: int = 0,
        channels_last: bool = False,
        freeze_encoder_epochs: int = 0,
        encoder_lr_scale: float = 1.0,
        hint_lr_scale: float = 1.0,
        ema_decay: float = 0.0,
        compile: bool = False,
        mirror_average: bool = False,
    ) -> None:
        super().__init__()
        if lambda_l1 < 0 or lambda_perceptual < 0:
            raise ValueError(
                f"model.lambda_l1 and model.lambda_perceptual must be >= 0, got {lambda_l1}, {lambda_perceptual}"
            )
        if min(l1_warmup_epochs, lr_decay_epochs, freeze_encoder_epochs) < 0:
            raise ValueError(
                "model.l1_warmup_epochs, model.lr_decay_epochs and model.freeze_encoder_epochs must be >= 0"
            )
        if not 0 < encoder_lr_scale:
            raise ValueError(f"model.encoder_lr_scale must be > 0, got {encoder_lr_scale}")
        if not 0 < hint_lr_scale:
            raise ValueError(f"model.hint_lr_scale must be > 0, got {hint_lr_scale}")
        if hint_lr_scale != 1 and not takes_hints(generator):
            raise ValueError(
                f"model.hint_lr_scale is {hint_lr_scale} but the generator takes no hints "
                "(model.generator.init_args.hints: true)"
            )
        if not 0 <= ema_decay < 1:
            raise ValueError(f"model.ema_decay must be in [0, 1) (0 = off), got {ema_decay}")
        for option, value in (
            ("freeze_encoder_epochs", freeze_encoder_epochs),
            ("encoder_lr_scale", encoder_lr_scale != 1),
        ):
            if value and not isinstance(getattr(generator, "encoder", None), nn.Module):
                raise ValueError(
                    f"model.{option} needs a generator with an `encoder` submodule (e.g. ResNetUNet); "
                    f"{type(generator).__name__} has none"
                )
        d_channels = getattr(discriminator, "in_channels", None)
        wanted = 3 + (HINT_CHANNELS if takes_hints(generator) else 0)
        if isinstance(d_channels, int) and d_channels != wanted:
            why = "cat(L, hints, ab): the generator takes hints" if takes_hints(generator) else "cat(L, ab)"
            raise ValueError(f"model.discriminator must take in_channels: {wanted} ({why}), got {d_channels}")
        # Under LightningCLI the hyperparameters are the parsed config: class paths and init args of the injected
        # networks, loss and optimizers, which is what lets a checkpoint rebuild its model with no YAML beside it.
        # Built by hand, the live objects are not hyperparameters to pickle (the weights are in the state dict).
        self.save_hyperparameters(ignore=[] if _built_by_cli() else INJECTED)
        # Two optimizers alternate within one batch: Lightning's automatic loop cannot express that.
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        # A copy of the weights as they start; the layout change of on_fit_start reaches it too.
        self.generator_ema = WeightAverage(generator, ema_decay) if ema_decay else None
        # An attribute as well as a hyperparameter: `--generator_export` sets it from the export's own config.
        self.mirror_average = mirror_average
        self.perceptual_loss = perceptual_loss
        self.gan_loss = GANLoss(gan_mode)
        self._generator_optimizer = generator_optimizer
        self._discriminator_optimizer = discriminator_optimizer
        # `colorize predict --hints`: {resolved photo path: [Hint]}; not a hyperparameter, set per run.
        self.predict_hints: dict[str, list] | None = None
        # Validation monitoring (and the "best" checkpoint) use the paper's metric.
        self.val_pixel_accuracy = PixelAccuracy()

    # ----------------------------------------------------------------- setup
    def configure_optimizers(self):
        opt_g = self._generator_optimizer(self._generator_parameter_groups())
        for group in opt_g.param_groups:
            group["lr"] *= group.pop("lr_scale", 1.0)
        opt_d = self._discriminator_optimizer(self.discriminator.parameters())
        decay = self.hparams.lr_decay_epochs
        if not decay:
            return [opt_g, opt_d]
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        if not max_epochs or max_epochs < 0:
            raise ValueError("model.lr_decay_epochs needs a finite trainer.max_epochs")
        constant_epochs = max(0, max_epochs - decay)

        def linear_decay(epoch: int) -> float:
            # pix2pix: 1.0 for the first epochs, then a straight line that reaches 0 after the last one.
            return 1.0 - max(0, epoch + 1 - constant_epochs) / float(decay + 1)

        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, linear_decay) for opt in (opt_g, opt_d)]
        return [opt_g, opt_d], schedulers

    def _generator_parameter_groups(self) -> list[dict[str, Any]]:
        # The optimizer factory sets the base learning rate; configure_optimizers applies lr_scale to it.
        groups: list[dict[str, Any]] = []
        taken: set[int] = set()
        hint_scale = self.hparams.get("hint_lr_scale", 1.0)
        if hint_scale != 1:
            hint_params = [
                p
                for name in HINT_MODULES
                if hasattr(self.generator, name)
                for p in getattr(self.generator, name).parameters()
            ]
            groups.append({"params": hint_params, "lr_scale": hint_scale})
            taken |= {id(p) for p in hint_params}
        scale = self.hparams.encoder_lr_scale
        if scale != 1:
            encoder = [p for p in self.generator.encoder.parameters() if id(p) not in taken]
            groups.append({"params": encoder, "lr_scale": scale})
            taken |= {id(p) for p in encoder}
        rest = [p for p in self.generator.parameters() if id(p) not in taken]
        return [{"params": rest}, *groups]

    def on_fit_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        simulated = getattr(datamodule, "hints", None)
        if simulated is not None and bool(simulated) != takes_hints(self.generator):
            takes = "takes" if takes_hints(self.generator) else "does not take"
            raise ValueError(
                f"data.hints is {str(bool(simulated)).lower()} but the generator {takes} hints "
                "(model.generator.init_args.hints): set both or neither"
            )
        if self.hparams.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.hparams.compile:
            # After the layout change, so the compiled graphs are traced for the layout they will see.
            for network in (self.generator, self.discriminator):
                network.compile()

    def on_train_epoch_start(self) -> None:
        if self.hparams.freeze_encoder_epochs:
            self._set_encoder_trainable(self.current_epoch >= self.hparams.freeze_encoder_epochs)

    def _set_encoder_trainable(self, trainable: bool) -> None:
        # requires_grad survives toggled_optimizer (it restores the state it found), and Adam skips
        # parameters without a gradient, so frozen weights and their optimizer state stay untouched.
        for module in self.generator.encoder.modules():
            if isinstance(module, _NORM_LAYERS):
                continue  # fastai's train_bn: normalization adapts to gray input from the start
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad_(trainable)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if not self.hparams.channels_last:
            return x
        if x.shape[1] == 1:
            # A one-channel tensor is "contiguous" in both layouts, so .contiguous(channels_last) keeps its
            # NCHW strides; torch.cat of it with a channels-last map (L beside ab for D, the input L as
            # ResNetUNet's last skip) then falls back to NCHW and the next convolution converts the whole
            # concatenation back, forward and backward: 15 % of a ResNet18 UNet bf16 step at 256 px.
            # Real channels-last strides make the concatenation channels-last too.
            return torch.empty_like(x, memory_format=torch.channels_last).copy_(x)
        return x.contiguous(memory_format=torch.channels_last)

    @property
    def colorizing_generator(self) -> nn.Module:
        """What colorizes outside training: the weight average when there is one, mirror-averaged if asked."""
        generator = self.generator if self.generator_ema is None else self.generator_ema.average
        return colorizing_network(generator, self.mirror_average)

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """Colorize: normalized L ``(B, 1, H, W)`` (and hints ``(B, 3, H, W)``) -> normalized ab ``(B, 2, H, W)``."""
        if hints is None:
            return self.colorizing_generator(self._prepare(L))
        return self.colorizing_generator(self._prepare(L), self._prepare(hints))

    def _training_hints(self, batch: dict[str, Any], L: torch.Tensor) -> torch.Tensor | None:
        """The batch's simulated hints for a generator that takes them (none drawn: all zero), else None."""
        if not takes_hints(self.generator):
            return None
        hints = batch.get("hints")
        if hints is None:
            hints = L.new_zeros((L.shape[0], HINT_CHANNELS, *L.shape[-2:]))
        return self._prepare(hints)

    def _condition(self, L: torch.Tensor, hints: torch.Tensor | None) -> torch.Tensor:
        """What G is conditioned on, and so what D sees beside ab: L, or ``cat(L, hints)``."""
        return L if hints is None else torch.cat([L, hints.to(L.dtype)], dim=1)

    # -------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._log_skipped_files(batch)
        L, ab_real = self._prepare(batch["L"]), self._prepare(batch["ab"])
        if self._skip_on_every_rank(L.shape[0] == 0):  # every file of a batch was unreadable or colorless
            return
        opt_g, opt_d = self.optimizers()
        adversarial = self.current_epoch >= self.hparams.l1_warmup_epochs
        hints = self._training_hints(batch, L)
        condition = self._condition(L, hints)
        # One generator pass serves both steps: D sees it detached, G backpropagates through it.
        ab_fake = self.generator(L) if hints is None else self.generator(L, hints)
        logs: dict[str, torch.Tensor] = {}

        if adversarial:
            with self.toggled_optimizer(opt_d):
                logits_real = self.discriminator(torch.cat([condition, ab_real], dim=1))
                # detach: the D step must not send gradients into G.
                logits_fake = self.discriminator(torch.cat([condition, ab_fake.detach()], dim=1))
                loss_d_real = self.gan_loss(logits_real, target_is_real=True)
                loss_d_fake = self.gan_loss(logits_fake, target_is_real=False)
                # ½: as pix2pix, slows D relative to G.
                loss_d = 0.5 * (loss_d_real + loss_d_fake)
                opt_d.zero_grad(set_to_none=True)
                self.manual_backward(loss_d)
                opt_d.step()
            logs |= {
                "train/d_loss": loss_d,
                "train/d_loss_real": loss_d_real,
                "train/d_loss_fake": loss_d_fake,
                "train/d_real": self._discriminator_score(logits_real),
                "train/d_fake": self._discriminator_score(logits_fake),
            }

        with self.toggled_optimizer(opt_g):
            loss_l1 = torch.nn.functional.l1_loss(ab_fake.float(), ab_real.float())
            loss_g = self.hparams.lambda_l1 * loss_l1
            if adversarial:
                # D's parameters are frozen by the toggle; gradients still flow through D into ab_fake.
                logits = self.discriminator(torch.cat([condition, ab_fake], dim=1))
                loss_gan = self.gan_loss(logits, target_is_real=True)
                loss_g = loss_g + loss_gan
                logs["train/g_gan"] = loss_gan
            if self.perceptual_loss is not None:
                loss_perceptual = self.perceptual_loss(ab_fake, ab_real)
                loss_g = loss_g + self.hparams.lambda_perceptual * loss_perceptual
                logs["train/g_perceptual"] = loss_perceptual
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)
        logs |= {"train/g_l1": loss_l1, "train/g_loss": loss_g}
        self.log_dict(
            {k: v.detach().float() for k, v in logs.items()}, on_step=True, on_epoch=True, batch_size=L.shape[0]
        )
        self.log("g_l1", loss_l1.detach().float(), prog_bar=True, logger=False, batch_size=L.shape[0])

    def _skip_on_every_rank(self, skip: bool) -> bool:
        """Whether any rank must skip this step; then every rank skips it.

        Under DDP each backward all-reduces gradients with every other rank: a rank that
        returned early without its two backwards would leave the others waiting forever.
        One tiny all-reduce per step keeps the ranks in step; the other ranks' batches of
        that step are dropped, which a batch with no usable photo makes rare.
        """
        trainer = self._trainer
        if trainer is None or trainer.world_size == 1:
            return skip
        flag = torch.tensor(float(skip), device=self.device)
        return bool(trainer.strategy.reduce(flag, reduce_op="max") > 0)

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> ColorizationGAN:
        """Lightning's, after refusing a checkpoint that names anything but colorize's classes.

        Lightning rebuilds the model from the checkpoint's hyperparameters with jsonargparse,
        which imports every class path they name (and its ``_instantiator``): a shared file is
        checked first (:func:`colorize.inference.colorizer.check_checkpoint`), then read with
        ``weights_only``.

        Raises:
            ValueError: one line naming the file and the refused value.
        """
        from colorize.inference.colorizer import check_checkpoint

        if isinstance(checkpoint_path, (str, os.PathLike)):
            check_checkpoint(checkpoint_path)
        kwargs.setdefault("weights_only", True)
        return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The trained weights are in the state dict: rebuilding the networks from the
        # checkpoint's hyperparameters must not fetch pretrained ones (offline it cannot).
        from colorize.inference.trust import offline_spec

        hparams = checkpoint.get("hyper_parameters")
        if isinstance(hparams, dict):
            checkpoint["hyper_parameters"] = {
                k: offline_spec(v, k) if isinstance(v, dict) and "class_path" in v else v for k, v in hparams.items()
            }

    def _discriminator_score(self, logits: torch.Tensor) -> torch.Tensor:
        """Mean D output as a probability (vanilla) or raw score (lsgan): the paper's D(real)/D(fake) curves."""
        logits = logits.detach().float()
        return torch.sigmoid(logits).mean() if self.hparams.gan_mode == "vanilla" else logits.mean()

    def _log_skipped_files(self, batch: dict[str, Any]) -> None:
        for reason in ("unreadable", "gray"):
            count = batch.get(f"skipped_{reason}")
            if count is not None:
                # Summed over the epoch and over DDP ranks: the number of files the loader dropped.
                self.log(
                    f"data/skipped_{reason}",
                    torch.as_tensor(count, dtype=torch.float32, device=self.device),
                    on_step=False,
                    on_epoch=True,
                    reduce_fx="sum",
                    sync_dist=True,
                )

    def on_train_epoch_end(self) -> None:
        # Manual optimization: schedulers are ours to step, once per epoch (pix2pix's cadence).
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    # ------------------------------------------------------- val/test/predict
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        """Pixel accuracy for monitoring; the prediction is returned for the picture callback."""
        ab_fake = self(batch["L"]).float()
        if ab_fake.shape[0]:
            self.val_pixel_accuracy.update(ab_fake, batch["ab"].float())
        return {"ab_fake": ab_fake}

    def on_validation_epoch_end(self) -> None:
        if self.val_pixel_accuracy.update_count:
            self.log_dict({f"val/{k}": v for k, v in self.val_pixel_accuracy.compute().items()}, prog_bar=True)
        self.val_pixel_accuracy.reset()

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        return {"ab_fake": self(batch["L"]).float()}

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[dict[str, Any]]:
        """Full-resolution colorization of each photo of the batch (see :mod:`colorize.inference.full_resolution`).

        Photos that share a working size share generator passes, under bf16 autocast on the CPU and CUDA.
        ``batch["image"]`` is a list of ``(1 or 3, H, W)`` uint8 or uint16 photos (or a stacked
        ``(B, 3, H, W)`` tensor); ``batch["dpi"]`` and ``batch["icc_profile"]``, where present, go
        with them to the file. Each prediction's ``image`` is a
        :class:`~colorize.inference.full_resolution.ColorizedPhoto`: its full-resolution colour is
        computed strip by strip as the writer streams it to disk, so memory stays bounded.
        :attr:`predict_hints` (``{resolved photo path: hints}``, set by ``colorize predict --hints``)
        gives photos their colour hints.
        """
        from colorize.inference.full_resolution import colorize_photos

        size = self.trainer.datamodule.hparams.image_size if self.trainer.datamodule is not None else 256
        hints = None
        if self.predict_hints:
            hints = [self.predict_hints.get(str(Path(path).resolve())) for path in batch["path"]]
        photos = colorize_photos(self.colorizing_generator, list(batch["image"]), target_size=size, hints=hints)
        for key in ("dpi", "icc_profile"):
            for photo, value in zip(photos, batch.get(key) or [None] * len(photos), strict=True):
                setattr(photo, key, value)
        return [{"image": photo, "path": path} for photo, path in zip(photos, batch["path"], strict=True)]
