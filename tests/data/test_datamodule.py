"""ColorizationDataModule (splits, loaders, on-device flips + Lab) and the COCO download, all offline."""

import io
import tarfile
import time
from types import SimpleNamespace

import lightning
import numpy as np
import pytest
import torch
from PIL import Image

from colorize.color import rgb_to_normalized_lab
from colorize.data import coco
from colorize.data.coco import DatasetUnavailableError, ensure_coco_sample
from colorize.data.datamodule import ColorizationDataModule, random_flips
from colorize.data.splits import Split

SIZE = 16


def _photos(folder, n: int, size: int = 20) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        paths.append(folder / f"p{i:03d}.png")
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def _dm(root, **kwargs) -> ColorizationDataModule:
    options = {"image_size": SIZE, "batch_size": 4, "num_workers": 0, "draw_size": None, "train_size": None}
    options.update({"val_size": 2, "test_size": 2, "pin_memory": False, **kwargs})
    return ColorizationDataModule(root=str(root), **options)


def _variants(image: torch.Tensor) -> list[torch.Tensor]:
    """identity, left-right, upside-down, both."""
    return [image, image.flip(-1), image.flip(-2), image.flip(-1).flip(-2)]


# ---- random_flips ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_random_flips_are_real_flips_of_both_kinds(dtype):
    image = torch.arange(3 * 4 * 5).view(3, 4, 5).to(dtype)  # asymmetric: the four variants differ
    batch = image.expand(256, -1, -1, -1).clone()
    out = random_flips(batch, generator=torch.Generator().manual_seed(0))
    assert out.shape == batch.shape and out.dtype == dtype
    kinds = []
    for sample in out:
        matches = [i for i, v in enumerate(_variants(image)) if torch.equal(sample, v)]
        assert len(matches) == 1
        kinds.append(matches[0])
    counts = np.bincount(kinds, minlength=4)
    assert (counts > 30).all(), counts  # p=0.5 each, independent: ~64 of each
    assert torch.equal(batch, image.expand(256, -1, -1, -1))  # input untouched


def test_random_flips_reproducible_and_probability():
    batch = torch.rand(8, 3, 4, 4)
    a = random_flips(batch, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, random_flips(batch, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(random_flips(batch, p=0.0), batch)
    assert torch.equal(random_flips(batch, p=1.0), batch.flip(-1).flip(-2))
    with pytest.raises(ValueError, match="B, C, H, W"):
        random_flips(batch[0])


# ---- on_after_batch_transfer ------------------------------------------------------------------


def _batch(n: int = 64) -> dict:
    rgb = torch.arange(3 * SIZE * SIZE, dtype=torch.int64).remainder(251).view(3, SIZE, SIZE).to(torch.uint8)
    return {
        "rgb": rgb.expand(n, -1, -1, -1).clone(),
        "index": torch.arange(n),
        "skipped_unreadable": torch.tensor(1),
        "skipped_gray": torch.tensor(2),
    }


def _flipped(out: dict, batch: dict) -> int:
    return sum(not torch.equal(a, b) for a, b in zip(out["rgb"], batch["rgb"], strict=True))


@pytest.mark.parametrize(
    ("augment", "trainer", "flips"),
    [
        (True, SimpleNamespace(training=True), True),
        (True, SimpleNamespace(training=False), False),
        (True, None, False),
        (False, SimpleNamespace(training=True), False),
    ],
)
def test_flips_only_when_training_with_augment(tmp_path, augment, trainer, flips):
    dm = _dm(tmp_path, augment=augment)
    dm.trainer = trainer
    batch = _batch()
    out = dm.on_after_batch_transfer(batch, 0)
    assert (_flipped(out, batch) > 0) == flips
    assert out["L"].shape == (64, 1, SIZE, SIZE) and out["ab"].shape == (64, 2, SIZE, SIZE)
    assert out["L"].dtype == torch.float32 and out["ab"].dtype == torch.float32
    assert out["rgb"].dtype == torch.uint8
    L, ab = rgb_to_normalized_lab(out["rgb"])  # Lab agrees with the (flipped) rgb
    torch.testing.assert_close(out["L"], L)
    torch.testing.assert_close(out["ab"], ab)
    for key in ("index", "skipped_unreadable", "skipped_gray"):
        assert torch.equal(out[key], batch[key])


def test_empty_and_predict_batches(tmp_path):
    dm = _dm(tmp_path, augment=True)
    dm.trainer = SimpleNamespace(training=True)
    empty = _batch(0)
    out = dm.on_after_batch_transfer(empty, 0)
    assert out["L"].shape == (0, 1, SIZE, SIZE)
    predict = {"image": torch.zeros(1, 3, 5, 7, dtype=torch.uint8), "path": ["x.png"]}
    assert dm.on_after_batch_transfer(predict, 0) is predict


class _Recorder(lightning.LightningModule):
    """Records the batches each loop receives."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = {"train": [], "val": []}

    def training_step(self, batch, batch_idx):
        self.seen["train"].append(batch)
        return (self.weight * batch["ab"].mean()).sum() + self.weight.sum()

    def validation_step(self, batch, batch_idx):
        self.seen["val"].append(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def test_real_trainer_flips_training_batches_only(tmp_path):
    _photos(tmp_path / "photos", 14)
    dm = _dm(tmp_path / "photos", augment=True, batch_size=10, val_size=4, test_size=0)
    model = _Recorder()
    trainer = lightning.Trainer(
        fast_dev_run=1, accelerator="cpu", default_root_dir=tmp_path / "run", logger=False, enable_progress_bar=False
    )
    lightning.seed_everything(0)
    trainer.fit(model, datamodule=dm)
    dm_plain = _dm(tmp_path / "photos", batch_size=10, val_size=4, test_size=0)
    dm_plain.setup("fit")
    originals = dm_plain.train_dataset
    (train,) = model.seen["train"]
    assert train["rgb"].shape == (10, 3, SIZE, SIZE) and train["L"].shape == (10, 1, SIZE, SIZE)
    pairs = zip(train["rgb"], train["index"], strict=True)
    assert any(not torch.equal(rgb, originals[int(i)]["rgb"]) for rgb, i in pairs)
    (val,) = model.seen["val"]
    for rgb, i in zip(val["rgb"], val["index"], strict=True):
        assert torch.equal(rgb, dm_plain.val_dataset[int(i)]["rgb"])
    assert (tmp_path / "run" / "split.json").exists()  # the default manifest location


# ---- setup, manifests, loaders ------------------------------------------------------------------


def test_setup_builds_split_and_loaders(tmp_path):
    _photos(tmp_path / "photos", 11)
    dm = _dm(tmp_path / "photos", batch_size=4, val_size=2, test_size=2)
    dm.setup("fit")
    assert (len(dm.split.train), len(dm.split.val), len(dm.split.test)) == (7, 2, 2)
    assert dm.hparams.image_size == SIZE
    train = dm.train_dataloader()
    assert train.drop_last and [b["rgb"].shape[0] for b in train] == [4]
    batch = next(iter(dm.val_dataloader()))
    assert batch["rgb"].shape == (2, 3, SIZE, SIZE) and batch["rgb"].dtype == torch.uint8
    assert len(list(dm.test_dataloader())) == 1
    assert not list(tmp_path.rglob("*.json"))  # no trainer, no split_file: nothing written


def test_relative_root_finds_the_photos_from_the_working_folder(tmp_path, monkeypatch):
    _photos(tmp_path / "data" / "photos", 8)
    monkeypatch.chdir(tmp_path)
    dm = _dm("data/photos", batch_size=2)
    dm.setup("fit")
    assert all(path.is_file() for path in dm.split.paths("train") + dm.split.paths("test"))
    assert all(not p.startswith("data/") for p in dm.split.train)  # stored relative to the root
    assert next(iter(dm.train_dataloader()))["skipped_unreadable"] == 0


def test_small_train_set_is_not_dropped(tmp_path):
    _photos(tmp_path / "photos", 7)
    dm = _dm(tmp_path / "photos", batch_size=4, val_size=2, test_size=2)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert not loader.drop_last and [b["rgb"].shape[0] for b in loader] == [3]


def test_loaders_before_setup_raise(tmp_path):
    with pytest.raises(RuntimeError, match=r"setup\('fit'\)"):
        _dm(tmp_path).train_dataloader()


def test_split_file_written_then_reused(tmp_path):
    _photos(tmp_path / "photos", 12)
    manifest = tmp_path / "manifests" / "split.json"
    dm = _dm(tmp_path / "photos", split_file=str(manifest))
    dm.setup("fit")
    assert Split.load(manifest) == dm.split
    _photos(tmp_path / "photos" / "later", 5)  # the folder grows; the manifest pins the photos
    again = _dm(tmp_path / "photos", split_file=str(manifest), seed=999)  # the explicit manifest wins
    again.setup("test")
    assert again.split == dm.split
    other = tmp_path / "other"
    _photos(other, 12)
    with pytest.raises(ValueError, match=r"data\.root"):
        _dm(other, split_file=str(manifest)).setup("fit")


def test_default_manifest_in_default_root_dir(tmp_path):
    _photos(tmp_path / "photos", 12)
    trainer = SimpleNamespace(default_root_dir=str(tmp_path / "run"), is_global_zero=True, training=False)
    dm = _dm(tmp_path / "photos")
    dm.trainer = trainer
    dm.setup("fit")
    assert Split.load(tmp_path / "run" / "split.json") == dm.split
    _photos(tmp_path / "photos" / "later", 5)
    resumed = _dm(tmp_path / "photos")
    resumed.trainer = trainer
    resumed.setup("test")
    assert resumed.split == dm.split
    changed = _dm(tmp_path / "photos", seed=7)
    changed.trainer = trainer
    with pytest.raises(ValueError, match=r"data\.seed=7"):
        changed.setup("fit")


def test_predict_over_file_and_folder(tmp_path):
    paths = _photos(tmp_path / "photos", 3, size=24)
    (tmp_path / "photos" / "bad.jpg").write_bytes(b"")
    dm = _dm(tmp_path / "photos", predict_path=str(tmp_path / "photos"), predict_batch_size=1)
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert [len(b["image"]) for b in batches] == [0, 1, 1, 1]  # bad.jpg sorts first, comes back empty
    assert batches[1]["image"][0].shape == (3, 24, 24) and batches[1]["path"] == [str(paths[0])]
    one = _dm(tmp_path / "photos", predict_path=str(paths[2]))
    one.setup("predict")
    assert [b["path"] for b in one.predict_dataloader()] == [[str(paths[2])]]
    with pytest.raises(ValueError, match=r"data\.predict_path"):
        _dm(tmp_path / "photos").setup("predict")


def test_predict_batches_hold_several_photos_of_different_sizes(tmp_path):
    small = _photos(tmp_path / "photos", 3, size=24)
    large = tmp_path / "photos" / "q.png"  # sorts after the small ones
    Image.fromarray(np.zeros((40, 30, 3), dtype=np.uint8)).save(large)
    (tmp_path / "photos" / "r.jpg").write_bytes(b"")  # unreadable: dropped from its batch
    dm = _dm(tmp_path / "photos", predict_path=str(tmp_path / "photos"))
    assert dm.predict_batch_size == 8  # the default: several photos per batch
    dm.setup("predict")
    (batch,) = list(dm.predict_dataloader())
    assert [tuple(image.shape) for image in batch["image"]] == [(3, 24, 24)] * 3 + [(3, 40, 30)]
    assert batch["path"] == [str(p) for p in [*small, large]]

    dm = _dm(tmp_path / "photos", predict_path=str(tmp_path / "photos"), predict_batch_size=3)
    dm.setup("predict")
    assert [len(b["path"]) for b in dm.predict_dataloader()] == [3, 1]  # 5 files, r.jpg unreadable


# ---- validate ---------------------------------------------------------------------------------


def test_validate_names_options(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data\.root.*nowhere"):
        _dm(tmp_path / "nowhere").validate()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"data\.root.*empty"):
        _dm(tmp_path / "empty").validate()
    _photos(tmp_path / "photos", 10)
    _dm(tmp_path / "photos").validate()
    with pytest.raises(ValueError, match=r"data\.train_size=9.*only 6"):
        _dm(tmp_path / "photos", train_size=9).validate()
    with pytest.raises(ValueError, match=r"data\.draw_size=20000.*10 images"):
        _dm(tmp_path / "photos", draw_size=20000).validate()
    with pytest.raises(ValueError, match=r"data\.batch_size"):
        _dm(tmp_path / "photos", batch_size=0).validate()
    with pytest.raises(ValueError, match=r"data\.predict_batch_size must be >= 1, got 0"):
        _dm(tmp_path / "photos", predict_batch_size=0).validate()
    with pytest.raises(FileNotFoundError, match=r"data\.predict_path"):
        _dm(tmp_path / "photos", predict_path=str(tmp_path / "nope")).validate()


def test_validate_paper_defaults_before_download(tmp_path):
    dm = ColorizationDataModule(cache_dir=str(tmp_path / "cache"))
    dm.validate()  # checks against the COCO sample's known size, no network
    with pytest.raises(ValueError, match=r"data\.train_size=21700.*only 21637"):
        ColorizationDataModule(cache_dir=str(tmp_path / "cache"), draw_size=None, train_size=21700).validate()


# ---- COCO sample ----------------------------------------------------------------------------------


def _tgz(path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.as_uri()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("prefix", ["coco_sample/", ""])
def test_coco_download_extract_idempotent(tmp_path, monkeypatch, prefix):
    members = {f"{prefix}train_sample/{i:012d}.png": _png() for i in range(6)}
    members[f"{prefix}annotations/train_sample.json"] = b"{}"
    monkeypatch.setattr(coco, "COCO_SAMPLE_URL", _tgz(tmp_path / "sample.tgz", members))
    cache = tmp_path / "cache"
    folder = ensure_coco_sample(cache)
    assert folder == cache / "coco_sample" / "train_sample"
    assert len(list(folder.glob("*.png"))) == 6
    assert sorted(p.name for p in cache.iterdir()) == ["coco_sample"]  # no .part, .tgz or temp folders left
    monkeypatch.setattr(coco, "COCO_SAMPLE_URL", "http://127.0.0.1:9/x.tgz")
    assert ensure_coco_sample(cache) == folder  # cached: no network

    dm = ColorizationDataModule(
        cache_dir=str(cache), image_size=SIZE, num_workers=0, draw_size=None, train_size=None, val_size=1, test_size=1
    )
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.split.train) == 4 and dm.split.root == str(folder.resolve())


def test_coco_unreachable_fails_fast_with_help(tmp_path, monkeypatch):
    monkeypatch.setattr(coco, "COCO_SAMPLE_URL", "http://127.0.0.1:9/x.tgz")
    start = time.monotonic()
    with pytest.raises(DatasetUnavailableError, match="failed") as info:
        ColorizationDataModule(cache_dir=str(tmp_path / "cache")).prepare_data()
    assert time.monotonic() - start < 5
    assert "--data.root /path/to/photos" in str(info.value) and "make sample-data" in str(info.value)
    assert "data/sample" in str(info.value)
    assert not list((tmp_path / "cache").iterdir())  # no partial download left


@pytest.mark.parametrize("data_filter", [True, False], ids=["tarfile-filter", "fallback"])
def test_coco_corrupt_or_unsafe_archive(tmp_path, monkeypatch, data_filter):
    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)  # as on Pythons before 3.11.4
    (tmp_path / "bad.tgz").write_bytes(b"not a tarball")
    monkeypatch.setattr(coco, "COCO_SAMPLE_URL", (tmp_path / "bad.tgz").as_uri())
    with pytest.raises(DatasetUnavailableError, match="extract"):
        ensure_coco_sample(tmp_path / "cache")
    assert not (tmp_path / "cache" / "coco_sample.tgz").exists()  # the next run downloads afresh
    evil = _tgz(tmp_path / "evil.tgz", {"../escaped.png": _png(), "train_sample/a.png": _png()})
    monkeypatch.setattr(coco, "COCO_SAMPLE_URL", evil)
    with pytest.raises(DatasetUnavailableError):
        ensure_coco_sample(tmp_path / "cache")
    assert not (tmp_path / "escaped.png").exists()


# ---- crops, load size, held-out sources ---------------------------------------------------------


def test_training_photos_load_larger_and_are_cropped_on_the_device(tmp_path):
    _photos(tmp_path / "photos", 12, size=40)
    dm = _dm(tmp_path / "photos", load_scale=2, crop_scale=(0.3, 1.0), val_size=2, test_size=2)
    dm.setup("fit")
    train = next(iter(dm.train_dataloader()))
    assert train["rgb"].shape[-2:] == (2 * SIZE, 2 * SIZE)  # workers hand over the load size
    assert next(iter(dm.val_dataloader()))["rgb"].shape[-2:] == (SIZE, SIZE)  # evaluation never crops
    dm.trainer = SimpleNamespace(training=True)
    out = dm.on_after_batch_transfer(train, 0)
    assert out["rgb"].shape[-2:] == (SIZE, SIZE) and out["L"].shape[-2:] == (SIZE, SIZE)
    L, _ = rgb_to_normalized_lab(out["rgb"])
    torch.testing.assert_close(out["L"], L)
    dm.trainer = SimpleNamespace(training=False)
    val = next(iter(dm.val_dataloader()))
    assert torch.equal(dm.on_after_batch_transfer(val, 0)["rgb"], val["rgb"])


def test_crop_options_are_checked_before_training(tmp_path):
    _photos(tmp_path / "photos", 10)
    with pytest.raises(ValueError, match=r"data\.load_scale.*0\.5"):
        _dm(tmp_path / "photos", load_scale=0.5).validate()
    with pytest.raises(ValueError, match=r"data\.crop_scale"):
        _dm(tmp_path / "photos", crop_scale=(0.0, 1.0)).validate()


def test_test_sources_through_the_datamodule(tmp_path):
    for source, n in (("x", 8), ("y", 5)):
        _photos(tmp_path / "photos" / source, n)
    dm = _dm(tmp_path / "photos", test_sources=["y"], test_size=100, split_file=str(tmp_path / "split.json"))
    dm.validate()  # test_size is ignored when whole sources are held out
    dm.setup("fit")
    assert len(dm.test_dataset) == 5 and all("/y/" in str(p) for p in dm.split.paths("test"))
    assert len(dm.train_dataset) == 6 and len(dm.val_dataset) == 2
    with pytest.raises(ValueError, match=r"data\.test_sources.*\['z'\]"):
        _dm(tmp_path / "photos", test_sources=["z"]).setup("fit")
