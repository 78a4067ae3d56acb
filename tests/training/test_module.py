"""The GAN's training logic: who updates what, losses, schedules, precision, resume."""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
from tiny_runs import tiny_data, tiny_gan, tiny_trainer

from colorize.models.patchgan import PatchGAN
from colorize.training.module import ColorizationGAN


class StepRecorder:
    """Records, for each optimizer step, which networks it changed and which were trainable (not frozen)."""

    def __init__(self) -> None:
        self.module: ColorizationGAN | None = None
        self.steps: list[dict] = []

    def optimizer(self, name: str):
        recorder = self

        class RecordingAdam(torch.optim.Adam):
            def step(self, closure=None):
                module = recorder.module
                nets = {"generator": module.generator, "discriminator": module.discriminator}
                before = {k: [p.detach().clone() for p in net.parameters()] for k, net in nets.items()}
                trainable = {k: any(p.requires_grad for p in net.parameters()) for k, net in nets.items()}
                result = super().step(closure)
                changed = {
                    k: any(not torch.equal(a, p) for a, p in zip(before[k], net.parameters(), strict=True))
                    for k, net in nets.items()
                }
                recorder.steps.append({"optimizer": name, "changed": changed, "trainable": trainable})
                return result

        return lambda params: RecordingAdam(params, lr=1e-3, betas=(0.5, 0.999))


def test_discriminator_step_updates_only_d_and_generator_step_only_g(photo_folder, tmp_path):
    recorder = StepRecorder()
    model = tiny_gan(generator_optimizer=recorder.optimizer("G"), discriminator_optimizer=recorder.optimizer("D"))
    recorder.module = model
    tiny_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0).fit(model, tiny_data(photo_folder, tmp_path))
    assert [s["optimizer"] for s in recorder.steps] == ["D", "G"]
    d_step, g_step = recorder.steps
    assert d_step["changed"] == {"generator": False, "discriminator": True}
    assert d_step["trainable"] == {"generator": False, "discriminator": True}  # the toggle froze G
    assert g_step["changed"] == {"generator": True, "discriminator": False}
    assert g_step["trainable"] == {"generator": True, "discriminator": False}


def test_l1_warmup_trains_generator_alone_then_the_game_starts(photo_folder, tmp_path):
    recorder = StepRecorder()
    model = tiny_gan(
        generator_optimizer=recorder.optimizer("G"), discriminator_optimizer=recorder.optimizer("D"), l1_warmup_epochs=1
    )
    recorder.module = model
    trainer = tiny_trainer(tmp_path, max_epochs=2, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(model, tiny_data(photo_folder, tmp_path))
    assert [s["optimizer"] for s in recorder.steps] == ["G", "D", "G"]


def test_linear_lr_decay_reaches_zero_after_the_last_epoch(photo_folder, tmp_path):
    model = tiny_gan(lr_decay_epochs=2)
    seen = []

    class LrProbe(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            seen.append([opt.param_groups[0]["lr"] for opt in trainer.optimizers])

    trainer = tiny_trainer(tmp_path, max_epochs=4, limit_train_batches=1, limit_val_batches=0, callbacks=[LrProbe()])
    trainer.fit(model, tiny_data(photo_folder, tmp_path))
    lrs = [g for g, _ in seen]
    assert lrs[0] == lrs[1] == pytest.approx(2e-4)
    assert lrs[1] > lrs[2] > lrs[3] > 0
    assert all(g == d for g, d in seen)  # both networks follow the same schedule


def test_bf16_channels_last_training_runs_and_logs_every_loss(photo_folder, tmp_path):
    model = tiny_gan(channels_last=True)
    trainer = tiny_trainer(tmp_path, precision="bf16-mixed")
    trainer.fit(model, tiny_data(photo_folder, tmp_path))
    logged = trainer.callback_metrics
    for key in (
        "train/d_loss",
        "train/d_loss_real",
        "train/d_loss_fake",
        "train/g_gan",
        "train/g_l1",
        "train/g_loss",
        "train/d_real",
        "train/d_fake",
        "val/pixel_acc@2%",
        "val/pixel_acc@5%",
    ):
        assert key in logged, key
        assert torch.isfinite(logged[key])
    assert 0 <= logged["train/d_real"] <= 1
    assert logged["val/pixel_acc@2%"] <= logged["val/pixel_acc@5%"]
    weight = next(p for p in model.generator.parameters() if p.ndim == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)


def test_generator_loss_is_the_documented_sum(photo_folder, tmp_path):
    model = tiny_gan(lambda_l1=7.0)
    trainer = tiny_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(model, tiny_data(photo_folder, tmp_path))
    m = trainer.callback_metrics
    assert float(m["train/g_loss"]) == pytest.approx(float(m["train/g_gan"] + 7.0 * m["train/g_l1"]), rel=1e-5)


def test_resume_continues_at_saved_epoch_and_step_with_identical_optimizer_state(photo_folder, tmp_path):
    data = tiny_data(photo_folder, tmp_path)
    first = tiny_trainer(tmp_path, limit_val_batches=0)
    first.fit(tiny_gan(), data)
    ckpt_path = tmp_path / "after_epoch_1.ckpt"
    first.save_checkpoint(ckpt_path)
    saved = torch.load(ckpt_path, weights_only=False)
    assert saved["global_step"] == 4  # 2 batches x (D step + G step)

    observed = {}

    class Probe(L.Callback):
        def on_train_start(self, trainer, pl_module):
            observed["epoch"] = trainer.current_epoch
            observed["step"] = trainer.global_step
            observed["optimizers"] = [copy.deepcopy(opt.state_dict()) for opt in trainer.optimizers]

    second = tiny_trainer(tmp_path, max_epochs=2, limit_val_batches=0, callbacks=[Probe()])
    second.fit(tiny_gan(), tiny_data(photo_folder, tmp_path), ckpt_path=ckpt_path)
    assert observed["epoch"] == 1 and observed["step"] == 4
    for restored, original in zip(observed["optimizers"], saved["optimizer_states"], strict=True):
        for key, state in original["state"].items():
            for name in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(torch.as_tensor(restored["state"][key][name]), torch.as_tensor(state[name]))
    assert second.global_step == 8


def test_invalid_loss_weights_are_rejected():
    with pytest.raises(ValueError, match="lambda_l1"):
        tiny_gan(lambda_l1=-1.0)


def test_frozen_encoder_epochs_train_decoder_and_norms_only_then_everything(photo_folder, tmp_path):
    from colorize.models.resnet_unet import ResNetUNet

    torch.manual_seed(0)
    generator = ResNetUNet("resnet18", pretrained=False)
    model = ColorizationGAN(generator, PatchGAN(base_width=4, num_layers=2), freeze_encoder_epochs=1)
    snapshots = []

    class Snapshot(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            snapshots.append({k: v.detach().clone() for k, v in pl_module.generator.state_dict().items()})

    initial = {k: v.detach().clone() for k, v in generator.state_dict().items()}
    trainer = tiny_trainer(tmp_path, max_epochs=2, limit_train_batches=1, limit_val_batches=0, callbacks=[Snapshot()])
    trainer.fit(model, tiny_data(photo_folder, tmp_path))

    def changed(before, after, prefix, kind):
        keys = [k for k in before if k.startswith(prefix) and k.endswith(kind) and before[k].is_floating_point()]
        assert keys, (prefix, kind)
        return {k for k in keys if not torch.equal(before[k], after[k])}, keys

    frozen_epoch, free_epoch = snapshots
    conv_changed, convs = changed(initial, frozen_epoch, "encoder.conv1", ".weight")
    assert not conv_changed  # encoder convolutions untouched while frozen
    assert changed(initial, frozen_epoch, "encoder.bn1", ".bias")[0]  # its norm layers still adapt
    assert changed(initial, frozen_epoch, "decoder.", ".weight")[0]  # the decoder learns
    assert changed(frozen_epoch, free_epoch, "encoder.conv1", ".weight")[0]  # then the encoder trains too
    assert all(p.requires_grad for p in model.generator.parameters())


def test_freezing_needs_an_encoder():
    with pytest.raises(ValueError, match=r"model\.freeze_encoder_epochs.*UNet"):
        tiny_gan(freeze_encoder_epochs=2)


def test_encoder_learning_rate_is_a_share_of_the_generator_rate_through_the_schedule(photo_folder, tmp_path):
    from colorize.models.resnet_unet import ResNetUNet

    torch.manual_seed(0)
    model = ColorizationGAN(
        ResNetUNet("resnet18"), PatchGAN(base_width=4, num_layers=2), encoder_lr_scale=0.1, lr_decay_epochs=1
    )
    seen = []

    class LrProbe(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            opt_g = trainer.optimizers[0]
            encoder = {id(p) for p in pl_module.generator.encoder.parameters()}
            seen.append({any(id(p) in encoder for p in g["params"]): g["lr"] for g in opt_g.param_groups})

    trainer = tiny_trainer(tmp_path, max_epochs=2, limit_train_batches=1, limit_val_batches=0, callbacks=[LrProbe()])
    trainer.fit(model, tiny_data(photo_folder, tmp_path))
    assert seen[0] == {False: pytest.approx(2e-4), True: pytest.approx(2e-5)}
    assert seen[1][True] < 2e-5 and seen[1][True] == pytest.approx(seen[1][False] * 0.1)  # decays in step
    n_params = sum(len(g["params"]) for g in trainer.optimizers[0].param_groups)
    assert n_params == len(list(model.generator.parameters()))
    with pytest.raises(ValueError, match=r"model\.encoder_lr_scale.*UNet"):
        tiny_gan(encoder_lr_scale=0.5)


def test_weight_average_follows_each_generator_step_and_is_what_colorizes(photo_folder, tmp_path):
    model = tiny_gan(ema_decay=0.9)
    trainer = tiny_trainer(tmp_path, limit_val_batches=0)
    trainer.fit(model, tiny_data(photo_folder, tmp_path))
    assert int(model.generator_ema.updates) == 2  # one per generator step
    model.eval()
    L_ = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model(L_), model.generator_ema.average(L_))
        assert not torch.allclose(model(L_), model.generator(L_))
    saved = trainer.lightning_module.state_dict()
    generator_keys = {k for k in saved if k.startswith("generator.")}
    assert {"generator_ema.average." + k[len("generator.") :] for k in generator_keys} <= saved.keys()


def test_ema_decay_outside_its_range_is_rejected():
    with pytest.raises(ValueError, match="model.ema_decay"):
        tiny_gan(ema_decay=1.0)


def test_compiled_training_matches_uncompiled_in_bf16_and_saves_plain_names(photo_folder, tmp_path):
    losses = {}
    for compiled in (False, True):
        L.seed_everything(0)
        model = tiny_gan(channels_last=True, compile=compiled)
        trainer = tiny_trainer(
            tmp_path / str(compiled), precision="bf16-mixed", limit_train_batches=3, limit_val_batches=0
        )
        trainer.fit(model, tiny_data(photo_folder, tmp_path))
        losses[compiled] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        if compiled:
            assert model.generator._compiled_call_impl is not None  # nn.Module.compile took effect
            checkpoint = tmp_path / "compiled.ckpt"
            trainer.save_checkpoint(checkpoint)
    assert losses[True].keys() == losses[False].keys() and "train/g_l1_epoch" in losses[True]
    for key, value in losses[False].items():
        # bf16 keeps 8 bits of mantissa; fused kernels round at other points than eager ones
        assert losses[True][key] == pytest.approx(value, rel=3e-2, abs=3e-3), key
    state = torch.load(checkpoint, weights_only=False)["state_dict"]
    assert not any("_orig_mod" in key for key in state)
    plain = tiny_gan(channels_last=True)
    plain.load_state_dict(state, strict=True)


def test_channels_last_one_channel_inputs_keep_concatenations_channels_last():
    # .contiguous(channels_last) leaves a 1-channel tensor with NCHW strides (it is "contiguous" either way),
    # and torch.cat of it with a channels-last map would fall back to NCHW.
    model = tiny_gan(channels_last=True)
    L = model._prepare(torch.rand(2, 1, 8, 8))
    ab = model._prepare(torch.rand(2, 2, 8, 8))
    assert L.stride(1) == 1
    assert torch.cat([L, ab], dim=1).is_contiguous(memory_format=torch.channels_last)
    plain = tiny_gan()._prepare(torch.rand(2, 1, 8, 8))
    assert plain.is_contiguous()


def test_a_hint_generator_trains_on_hints_and_d_sees_them(photo_folder, tmp_path):
    from colorize.models.unet import UNet

    seen = {}
    torch.manual_seed(0)
    discriminator = PatchGAN(in_channels=6, base_width=4, num_layers=2)
    discriminator.register_forward_pre_hook(lambda module, args: seen.setdefault("d", args[0].detach().clone()))
    generator = UNet(base_width=4, depth=2, hints=True)
    first_conv = generator.down[0][0].weight
    model = ColorizationGAN(generator, discriminator)
    tiny_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0).fit(
        model, tiny_data(photo_folder, tmp_path, hints=True, hint_p=0.01, hint_sizes=(2, 4), hint_seed=0)
    )
    # The hint path left zero: it was trained on hints. D read cat(L, hints, ab) with a non-empty mask.
    assert first_conv[:, 1:].abs().sum() > 0
    assert seen["d"].shape[1] == 6 and seen["d"][:, 3].sum() > 0


def test_hint_options_that_do_not_fit_together_are_refused(photo_folder, tmp_path):
    from colorize.models.unet import UNet

    with pytest.raises(ValueError, match=r"in_channels: 6 \(cat\(L, hints, ab\)"):
        ColorizationGAN(UNet(base_width=4, depth=2, hints=True), PatchGAN(base_width=4, num_layers=2))
    with pytest.raises(ValueError, match="data.hints is true but the generator does not take hints"):
        tiny_trainer(tmp_path, limit_train_batches=1, limit_val_batches=0).fit(
            tiny_gan(), tiny_data(photo_folder, tmp_path, hints=True)
        )


def test_hint_modules_learn_at_their_own_rate_and_stay_trainable_while_the_encoder_is_frozen():
    from colorize.models.hints import HINT_MODULES
    from colorize.models.resnet_unet import ResNetUNet

    torch.manual_seed(0)
    generator = ResNetUNet("resnet18", hints=True)
    model = ColorizationGAN(
        generator,
        PatchGAN(in_channels=6, base_width=4, num_layers=2),
        encoder_lr_scale=0.1,
        hint_lr_scale=10.0,
        freeze_encoder_epochs=1,
    )
    opt_g, _ = model.configure_optimizers()
    hint_ids = {id(p) for name in HINT_MODULES for p in getattr(generator, name).parameters()}
    encoder_ids = {id(p) for p in generator.encoder.parameters()}
    lr_of = {}
    for group in opt_g.param_groups:
        ids = {id(p) for p in group["params"]}
        kind = "hints" if ids <= hint_ids else "encoder" if ids <= encoder_ids else "rest"
        lr_of[kind] = group["lr"]
    assert lr_of == {"rest": pytest.approx(2e-4), "encoder": pytest.approx(2e-5), "hints": pytest.approx(2e-3)}
    assert sum(len(g["params"]) for g in opt_g.param_groups) == len(list(generator.parameters()))
    model._set_encoder_trainable(False)
    assert all(p.requires_grad for name in HINT_MODULES for p in getattr(generator, name).parameters())
    with pytest.raises(ValueError, match=r"model\.hint_lr_scale.*takes no hints"):
        tiny_gan(hint_lr_scale=10.0)
