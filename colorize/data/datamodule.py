"""The LightningDataModule: splits, loaders, and the on-device part of preprocessing.

Workers only decode and resize photos to uint8 (4x less host-to-device traffic than
float32). Once a batch is on the device, :meth:`ColorizationDataModule.on_after_batch_transfer`
applies the paper's online flips (training only) and converts to normalized Lab, where
both cost next to nothing.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import lightning
import torch
from torch.utils.data import DataLoader, Dataset

from colorize.color import rgb_to_normalized_lab
from colorize.data.augment import random_flips, random_resized_crops
from colorize.data.coco import COCO_SAMPLE_SIZE, coco_sample_dir, ensure_coco_sample
from colorize.data.dataset import PhotoDataset, PredictPhotoDataset, collate_photos, collate_predict
from colorize.data.hints import LOCATIONS, random_hints
from colorize.data.images import find_images
from colorize.data.splits import Split, check_split_sizes, make_split
from colorize.data.videos import find_videos, is_video_path

log = logging.getLogger(__name__)

DEFAULT_MANIFEST = "split.json"
_SPLIT_OPTIONS = ("seed", "draw_size", "train_size", "val_size", "test_size", "test_sources")


def _find(path: str | Path, option: str) -> list[Path]:
    try:
        return find_images(path)
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:
        raise type(err)(f"{option}: {err}") from None


class ColorizationDataModule(lightning.LightningDataModule):
    """Photos for the colorization GAN; the defaults are the paper's setup.

    Args:
        root: a folder of photos (searched recursively); None uses the COCO sample,
            downloaded to ``cache_dir`` on first use.
        cache_dir: where the COCO sample is kept.
        image_size: side of the square training images (the paper: 256, no crop).
        batch_size: photos per training batch (the paper: 16).
        num_workers: DataLoader worker processes (decode + resize only).
        augment: random horizontal and vertical flips of training batches (the paper's
            "data augmentation" experiments).
        crop_scale: ``[min, max]`` share of the photo's area kept by a random resized crop of
            each training image (on the device, after transfer); None (the paper) = no crop.
        load_scale: workers resize training photos to ``load_scale * image_size`` before the
            crop; 2 keeps full detail in crops of a quarter of the area. A factor rather than a
            size, so one experiment config works at the paper's 256 px and the sample set's 128 px.
        seed: seed of the split (the paper's notebook: 123).
        draw_size: photos drawn for train + test (the paper: 20,000); None draws all.
        train_size: training photos kept (the paper: 19,900); None keeps all.
        val_size: validation photos, from the undrawn ones (the paper had none).
        test_size: test photos (the paper: 100).
        test_sources: top-level folders of ``root`` held out whole as the test set (e.g. the
            sample set's ``[scratch, mvtb-data]``): test photos of kinds the model never saw.
            ``test_size`` is then ignored.
        split_file: JSON manifest of the split: loaded if it exists, else written. None
            uses ``<default_root_dir>/split.json`` when a trainer is attached, so resumed
            runs and ``test`` see exactly the same photos.
        skip_gray: skip photos without color (their ab target is all zero).
        predict_path: a photo, a video or a folder of them to colorize at full resolution (videos are
            colorized by :mod:`colorize.inference.video_writer`, not by this module's datasets).
        predict_batch_size: photos per predict batch. Photos of a batch that share a working
            size share one generator pass (:func:`colorize.inference.full_resolution.colorize_images`), which is
            where batching saves time; but they are full-resolution photos, held in memory
            together (a 12 MP photo is 36 MB as uint8, plus 48 MB of float32 lightness while its
            group is colorized), so the default stays modest. 1 = one photo per pass.
        pin_memory: pin host memory for faster copies to a CUDA device (ignored without one).
        hints: add simulated colour hints to training batches (``batch["hints"]``, ``(B, 3, S, S)``;
            :func:`colorize.data.hints.random_hints`), for a generator built with ``hints: true``.
            Validation and test batches get none: validation monitors the hint-free colour, and the
            test's hint sweep draws its own fixed hints.
        hint_p: stop probability of the geometric number of hints per photo (Zhang: 1/8, mean 7).
        hint_sizes: ``[min, max]`` side of a hint's square patch in pixels (Zhang: [1, 9]).
        hint_locations: ``normal`` (around the centre, Zhang's) or ``uniform``.
        hint_seed: seed of the hint draws (their own generator); None: the global one (``seed_everything``).

    Batches reaching the model (after :meth:`on_after_batch_transfer`):
    ``{"L": float32 (B, 1, S, S) in [-1, 1], "ab": float32 (B, 2, S, S) ~[-1, 1],
    "rgb": uint8 (B, 3, S, S), "index": long (B,), "skipped_unreadable": long (),
    "skipped_gray": long ()}``; B may be 0 when every photo of a batch was skipped.
    Predict batches stay lists of photos at their own sizes, ``{"image": [uint8 (3, H, W)] * B,
    "path": [str] * B}`` (B may be 0: unreadable files are dropped).
    """

    def __init__(
        self,
        root: str | None = None,
        cache_dir: str = "~/.cache/colorize",
        image_size: int = 256,
        batch_size: int = 16,
        num_workers: int = 2,
        augment: bool = False,
        crop_scale: tuple[float, float] | None = None,
        load_scale: float = 1.0,
        seed: int = 123,
        draw_size: int | None = 20000,
        train_size: int | None = 19900,
        val_size: int = 100,
        test_size: int = 100,
        test_sources: list[str] | None = None,
        split_file: str | None = None,
        skip_gray: bool = True,
        predict_path: str | None = None,
        predict_batch_size: int = 8,
        pin_memory: bool = True,
        hints: bool = False,
        hint_p: float = 0.125,
        hint_sizes: tuple[int, int] = (1, 9),
        hint_locations: str = "normal",
        hint_seed: int | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.root = root
        self.cache_dir = cache_dir
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.crop_scale = tuple(crop_scale) if crop_scale is not None else None
        self.load_scale = load_scale
        self.seed = seed
        self.draw_size = draw_size
        self.train_size = train_size
        self.val_size = val_size
        self.test_size = test_size
        self.test_sources = sorted(set(test_sources)) if test_sources else None
        self.split_file = split_file
        self.skip_gray = skip_gray
        self.predict_path = predict_path
        self.predict_batch_size = predict_batch_size
        self.pin_memory = pin_memory
        self.hints = hints
        self.hint_p = hint_p
        self.hint_sizes = tuple(hint_sizes)
        self.hint_locations = hint_locations
        self.hint_seed = hint_seed
        self._hint_generator = torch.Generator().manual_seed(hint_seed) if hint_seed is not None else None
        self.split: Split | None = None
        self.split_path: Path | None = None  # the manifest the split was loaded from or written to
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None
        self.predict_dataset: Dataset | None = None

    # ---- checks --------------------------------------------------------------------------

    def validate(self) -> None:
        """Fail fast, before a long run, on options that cannot work; errors name the ``data.*`` option.

        Touches the disk only to check that ``root`` exists and to count its photos.
        """
        for name in ("image_size", "batch_size", "predict_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")
        if self.load_scale < 1:
            raise ValueError(f"data.load_scale must be >= 1 (a crop cannot add pixels), got {self.load_scale}")
        if self.crop_scale is not None and (
            len(self.crop_scale) != 2 or not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1
        ):
            raise ValueError(
                f"data.crop_scale must be [min, max] with 0 < min <= max <= 1, got {list(self.crop_scale)}"
            )
        if not 0 < self.hint_p <= 1:
            raise ValueError(f"data.hint_p must be in (0, 1], got {self.hint_p}")
        if len(self.hint_sizes) != 2 or not 1 <= self.hint_sizes[0] <= self.hint_sizes[1] <= self.image_size:
            raise ValueError(
                f"data.hint_sizes must be [min, max] with 1 <= min <= max <= image_size, got {list(self.hint_sizes)}"
            )
        if self.hint_locations not in LOCATIONS:
            raise ValueError(f"data.hint_locations must be one of {list(LOCATIONS)}, got {self.hint_locations!r}")
        if self.predict_path is not None and not Path(self.predict_path).expanduser().exists():
            raise FileNotFoundError(f"data.predict_path: no such file or folder: {self.predict_path}")
        if self.root is not None:
            num_images, where = len(_find(Path(self.root).expanduser(), "data.root")), f"data.root={self.root}"
        else:
            cached = coco_sample_dir(self.cache_dir)
            # Before the first download, check against the sample's known size.
            num_images = len(find_images(cached)) if cached.is_dir() else COCO_SAMPLE_SIZE
            where = "the COCO sample (data.root=null)"
        if self.split_file is not None and Path(self.split_file).expanduser().exists():
            return  # the manifest decides the sizes
        check_split_sizes(
            num_images,
            draw_size=self.draw_size,
            train_size=self.train_size,
            val_size=self.val_size,
            # Held-out sources replace the random test set; make_split checks that they exist.
            test_size=0 if self.test_sources else self.test_size,
            where=where,
        )

    # ---- Lightning hooks -----------------------------------------------------------------

    def prepare_data(self) -> None:
        """Download the COCO sample (once per node; Lightning calls this on one process); predicting needs none."""
        if self.root is None and not (self.trainer is not None and self.trainer.predicting):
            ensure_coco_sample(self.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets of ``stage``; all but "predict" need the split (made or loaded once)."""
        if stage == "predict":
            self.predict_dataset = PredictPhotoDataset(self._predict_paths())
            return
        if self.split is None:
            self.split = self._load_or_make_split()
        self.train_dataset = PhotoDataset(self.split.paths("train"), self.load_size, self.skip_gray)
        self.val_dataset = PhotoDataset(self.split.paths("val"), self.image_size, self.skip_gray)
        self.test_dataset = PhotoDataset(self.split.paths("test"), self.image_size, self.skip_gray)

    def train_dataloader(self) -> DataLoader:
        dataset = self._require(self.train_dataset, "train")
        # drop_last keeps batch statistics stable, but must not drop a set smaller than one batch.
        return self._loader(
            dataset,
            shuffle=True,
            drop_last=len(dataset) >= self.batch_size,
            collate_fn=functools.partial(collate_photos, image_size=self.load_size),
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.val_dataset, "val"))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.test_dataset, "test"))

    def predict_dataloader(self) -> DataLoader:
        dataset = self._require(self.predict_dataset, "predict")
        return self._loader(dataset, batch_size=self.predict_batch_size, collate_fn=collate_predict)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Crop and flip (training only) and convert to normalized Lab, on the batch's device."""
        if not isinstance(batch, dict) or "rgb" not in batch:
            return batch  # predict batches: the predictor works at full resolution itself
        rgb = batch["rgb"]
        training = self.trainer is not None and self.trainer.training
        if training and rgb.shape[0] and (self.crop_scale is not None or rgb.shape[-1] != self.image_size):
            # No crop_scale but a load_scale > 1: the whole photo, resized.
            scale, ratio = (self.crop_scale, (3 / 4, 4 / 3)) if self.crop_scale else ((1.0, 1.0), (1.0, 1.0))
            rgb = random_resized_crops(rgb, self.image_size, scale=scale, ratio=ratio)
        if self.augment and training:
            rgb = random_flips(rgb)
        L, ab = rgb_to_normalized_lab(rgb)
        if self.hints and training:
            hints = random_hints(ab, self.hint_p, self.hint_sizes, self.hint_locations, self._hint_generator)
            return {**batch, "rgb": rgb, "L": L, "ab": ab, "hints": hints}
        return {**batch, "rgb": rgb, "L": L, "ab": ab}

    # ---- helpers -------------------------------------------------------------------------

    @property
    def load_size(self) -> int:
        """Side of the training photos the workers hand over (before the crop on the device)."""
        return round(self.image_size * self.load_scale)

    def _loader(self, dataset: Dataset, *, shuffle=False, drop_last=False, batch_size=None, collate_fn=None):
        return DataLoader(
            dataset,
            batch_size=batch_size or self.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_fn or functools.partial(collate_photos, image_size=self.image_size),
        )

    @staticmethod
    def _require(dataset: Dataset | None, name: str) -> Dataset:
        if dataset is None:
            stage = {"train": "fit", "val": "fit", "test": "test", "predict": "predict"}[name]
            raise RuntimeError(f"the {name} dataset is not built: call setup('{stage}') first")
        return dataset

    def _data_root(self) -> Path:
        if self.root is not None:
            # Absolute: find_images yields paths under the root as given, and the split stores them relative to it.
            return Path(self.root).expanduser().absolute()
        return ensure_coco_sample(self.cache_dir)

    def _default_manifest(self) -> Path | None:
        trainer = self.trainer
        return None if trainer is None else Path(trainer.default_root_dir) / DEFAULT_MANIFEST

    def _load_or_make_split(self) -> Split:
        explicit = self.split_file is not None
        manifest = Path(self.split_file).expanduser() if explicit else self._default_manifest()
        self.split_path = manifest
        root = self._data_root()
        if manifest is not None and manifest.exists():
            split = Split.load(manifest)
            self._check_manifest(split, manifest, root, check_options=not explicit)
            log.info("Loaded the split from %s", manifest)
        else:
            split = make_split(
                _find(root, "data.root"),
                root,
                seed=self.seed,
                draw_size=self.draw_size,
                train_size=self.train_size,
                val_size=self.val_size,
                test_size=self.test_size,
                test_sources=self.test_sources,
            )
            # Every DDP rank makes the same split; one writes it.
            if manifest is not None and (explicit or self.trainer.is_global_zero):
                split.save(manifest)
                log.info("Wrote the split to %s", manifest)
        log.info(
            "Split of %s: %d train, %d val, %d test photos",
            split.root,
            len(split.train),
            len(split.val),
            len(split.test),
        )
        return split

    def _check_manifest(self, split: Split, manifest: Path, root: Path, check_options: bool) -> None:
        if Path(split.root).resolve() != root.resolve():
            raise ValueError(
                f"split manifest {manifest} lists photos of {split.root}, but data.root is {root}; "
                "pass the matching data.root or another data.split_file"
            )
        if not check_options:
            return  # an explicit data.split_file is authoritative
        for name in _SPLIT_OPTIONS:
            if getattr(split, name) != getattr(self, name):
                raise ValueError(
                    f"split manifest {manifest} was made with data.{name}={getattr(split, name)}, but this run "
                    f"sets data.{name}={getattr(self, name)}; delete the manifest for a new split, "
                    "or pass it as data.split_file to reuse it"
                )

    def _predict_paths(self) -> list[Path]:
        if self.predict_path is None:
            raise ValueError("data.predict_path must name a photo or a folder of photos to colorize")
        path = Path(self.predict_path).expanduser()
        if path.is_file():
            # A film is colorized by colorize.inference.video_writer after the photos: no photo here.
            return [] if is_video_path(path) else [path]
        try:
            return _find(path, "data.predict_path")
        except ValueError:
            if path.is_dir() and find_videos(path):
                return []  # a folder of films only
            raise
