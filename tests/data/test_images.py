"""Finding and decoding photos (colorize.data.images) and turning them into items (colorize.data.dataset)."""

import io
import logging

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from colorize.data.dataset import (
    PhotoDataset,
    PredictPhotoDataset,
    collate_photos,
    collate_predict,
)
from colorize.data.images import IMAGE_SUFFIXES, UnreadableImageError, find_images, has_color, load_rgb


def _noise(w: int = 32, h: int = 24, seed: int = 0) -> Image.Image:
    """A colorful RGB photo stand-in: random pixels, so JPEG files are large enough to truncate."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


# ---- find_images -------------------------------------------------------------------------


def test_find_images_recursive_sorted_case_insensitive(tmp_path):
    for name in ["b.JPG", "a.png", "sub/c.Jpeg", "sub/deeper/d.webp", "e.TIFF", "f.bmp", "g.tif"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    for name in ["notes.txt", "._a.jpg", ".hidden/h.jpg", "noext"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_images(tmp_path)]
    assert found == ["a.png", "b.JPG", "e.TIFF", "f.bmp", "g.tif", "sub/c.Jpeg", "sub/deeper/d.webp"]
    assert find_images(str(tmp_path)) == find_images(tmp_path)
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"} == set(IMAGE_SUFFIXES)


def test_find_images_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_images(tmp_path / "nowhere")


def test_find_images_without_images_names_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no photos")
    with pytest.raises(ValueError, match=str(tmp_path)):
        find_images(tmp_path)


def test_find_images_on_a_file_raises(tmp_path):
    _noise().save(tmp_path / "a.png")
    with pytest.raises(NotADirectoryError, match="a.png"):
        find_images(tmp_path / "a.png")


# ---- load_rgb: modes -----------------------------------------------------------------------


def test_rgb_png_is_exact(tmp_path):
    image = _noise()
    image.save(tmp_path / "a.png")
    loaded = load_rgb(tmp_path / "a.png")
    assert loaded.mode == "RGB" and loaded.size == (32, 24)
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(image))


def test_grayscale_l_is_replicated(tmp_path):
    Image.new("L", (16, 16), 77).save(tmp_path / "g.png")
    loaded = load_rgb(tmp_path / "g.png")
    assert loaded.mode == "RGB"
    assert (_pixels(loaded) == 77).all()


def test_cmyk_is_converted(tmp_path):
    image = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    image.paste((255, 0, 0, 0), (0, 0, 8, 16))  # left half cyan
    image.save(tmp_path / "c.tif")
    loaded = _pixels(load_rgb(tmp_path / "c.tif"))
    assert tuple(loaded[0, 12]) == (255, 0, 0)
    assert tuple(loaded[0, 2]) == (0, 255, 255)


def test_palette_without_transparency(tmp_path):
    image = Image.new("P", (16, 16), 0)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.paste(1, (0, 0, 16, 8))
    image.save(tmp_path / "p.png")
    loaded = _pixels(load_rgb(tmp_path / "p.png"))
    assert tuple(loaded[0, 0]) == (200, 100, 50)
    assert tuple(loaded[15, 0]) == (10, 20, 30)


def test_palette_with_transparency_goes_over_white(tmp_path):
    image = Image.new("P", (16, 16), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 16, 8))
    image.save(tmp_path / "p.png", transparency=0)  # index 0 (black) is transparent
    loaded = _pixels(load_rgb(tmp_path / "p.png"))
    assert tuple(loaded[0, 0]) == (0, 0, 255)
    assert tuple(loaded[15, 0]) == (255, 255, 255)


def test_rgba_composited_over_white(tmp_path):
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))  # invisible red
    image.paste((0, 0, 255, 255), (0, 0, 4, 16))
    image.paste((0, 0, 0, 128), (4, 0, 8, 16))
    image.save(tmp_path / "a.png")
    loaded = _pixels(load_rgb(tmp_path / "a.png"))
    assert tuple(loaded[0, 0]) == (0, 0, 255)
    assert np.abs(loaded[0, 5] - 127).max() <= 1
    assert tuple(loaded[0, 12]) == (255, 255, 255)


def test_la_composited_over_white(tmp_path):
    image = Image.new("LA", (16, 16), (0, 0))
    image.paste((50, 255), (0, 0, 8, 16))
    image.save(tmp_path / "la.png")
    loaded = _pixels(load_rgb(tmp_path / "la.png"))
    assert tuple(loaded[0, 0]) == (50, 50, 50)
    assert tuple(loaded[0, 12]) == (255, 255, 255)


@pytest.mark.parametrize(("dtype", "suffix"), [(np.uint16, "png"), (np.int32, "tif")])
def test_sixteen_bit_scales_instead_of_clipping(tmp_path, dtype, suffix):
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=dtype).repeat(4, axis=0)
    Image.fromarray(values).save(tmp_path / f"deep.{suffix}")
    with Image.open(tmp_path / f"deep.{suffix}") as raw:
        assert raw.mode in {"I;16", "I;16B", "I;16L", "I"}  # the case under test
    loaded = _pixels(load_rgb(tmp_path / f"deep.{suffix}"))
    np.testing.assert_array_equal(loaded[0, :, 0], [0, 64, 128, 255])
    assert (loaded[..., 0] == loaded[..., 2]).all()


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    loaded = load_rgb(tmp_path / "phone.jpg")
    assert loaded.size == (20, 40)
    top = _pixels(loaded)[2, 10]  # stored left edge is now the top
    assert top[0] > 200 and top[2] < 60


# ---- load_rgb: bad files ---------------------------------------------------------------------


def _jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    _noise(64, 64).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    _noise(64, 64).save(buffer, format="PNG")
    return buffer.getvalue()


BAD_FILES = {
    "corrupt.jpg": lambda: b"\xff\xd8\xff\xe0" + bytes(np.random.default_rng(1).integers(0, 256, 2000, np.uint8)),
    "truncated.jpg": lambda: _jpeg_bytes()[: len(_jpeg_bytes()) // 2],
    "truncated.png": lambda: _png_bytes()[: len(_png_bytes()) // 2],
    "empty.jpg": lambda: b"",
    "text.jpg": lambda: b"this is a text file, renamed\n" * 10,
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_raise_naming_the_file(tmp_path, name):
    (tmp_path / name).write_bytes(BAD_FILES[name]())
    with pytest.raises(UnreadableImageError, match=name) as info:
        load_rgb(tmp_path / name)
    assert isinstance(info.value, OSError)
    assert info.value.path == str(tmp_path / name) and info.value.reason
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(UnreadableImageError, match="gone.jpg"):
        load_rgb(tmp_path / "gone.jpg")


def test_unreadable_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(UnreadableImageError("/x/a.jpg", "truncated")))
    assert (err.path, err.reason) == ("/x/a.jpg", "truncated") and "a.jpg" in str(err)


# ---- has_color ------------------------------------------------------------------------------


def test_has_color():
    gray = torch.full((3, 16, 16), 90, dtype=torch.uint8)
    assert not has_color(gray)
    # Luminance noise plus channels apart by at most 2 levels: JPEG chroma noise on a gray photo.
    noisy = (gray.int() + torch.randint(-9, 10, (1, 16, 16)) + torch.randint(0, 3, (3, 16, 16))).to(torch.uint8)
    assert not has_color(noisy)
    speck = gray.clone()
    speck[0, 3, 3] += 12  # one reddish pixel: spread > 2 but colorfulness < 1
    assert not has_color(speck)
    sepia = torch.stack([gray[0] + 40, gray[1] + 20, gray[2]])
    assert has_color(sepia)
    assert has_color(torch.from_numpy(np.array(_noise())).permute(2, 0, 1))
    assert has_color(sepia.float() / 255) and not has_color(gray.float() / 255)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        has_color(gray[None])


# ---- datasets and collation -------------------------------------------------------------------


def test_photo_dataset_resizes_to_square_uint8(tmp_path):
    _noise(48, 30).save(tmp_path / "a.png")
    _noise(16, 16, seed=1).save(tmp_path / "b.png")
    dataset = PhotoDataset([tmp_path / "a.png", tmp_path / "b.png"], image_size=24)
    assert len(dataset) == 2
    for index in range(2):
        item = dataset[index]
        assert item["rgb"].dtype == torch.uint8 and item["rgb"].shape == (3, 24, 24)
        assert item["index"] == index


def test_photo_dataset_keeps_pixels_at_native_size(tmp_path):
    image = _noise(16, 16)
    image.save(tmp_path / "a.png")
    rgb = PhotoDataset([tmp_path / "a.png"], image_size=16)[0]["rgb"]
    np.testing.assert_array_equal(rgb.permute(1, 2, 0).numpy(), np.asarray(image))


def test_bad_and_gray_files_are_skipped_warned_and_counted(tmp_path, caplog):
    paths = []
    for i in range(2):
        _noise(seed=i).save(tmp_path / f"good{i}.png")
        paths.append(tmp_path / f"good{i}.png")
    for name, make in BAD_FILES.items():
        (tmp_path / name).write_bytes(make())
        paths.append(tmp_path / name)
    Image.new("RGB", (32, 24), (120, 120, 120)).save(tmp_path / "gray.png")
    Image.new("L", (32, 24), 60).save(tmp_path / "gray_l.jpg")
    paths += [tmp_path / "gray.png", tmp_path / "gray_l.jpg"]

    dataset = PhotoDataset(paths, image_size=16)
    with caplog.at_level(logging.WARNING, logger="colorize.data.dataset"):
        items = [dataset[i] for i in range(len(dataset))]
    for name in [*BAD_FILES, "gray.png", "gray_l.jpg"]:
        assert any(name in record.getMessage() for record in caplog.records), name
    assert [item.get("skip") for item in items[2:]] == ["unreadable"] * len(BAD_FILES) + ["gray", "gray"]
    assert items[2]["path"] == str(paths[2])

    batch = collate_photos(items, image_size=16)
    assert batch["rgb"].shape == (2, 3, 16, 16) and batch["rgb"].dtype == torch.uint8
    assert batch["index"].tolist() == [0, 1] and batch["index"].dtype == torch.long
    assert batch["skipped_unreadable"].item() == len(BAD_FILES) and batch["skipped_unreadable"].ndim == 0
    assert batch["skipped_gray"].item() == 2

    empty = collate_photos(items[2:], image_size=16)
    assert empty["rgb"].shape == (0, 3, 16, 16) and empty["index"].shape == (0,)
    assert empty["skipped_unreadable"].item() == len(BAD_FILES)


def test_gray_photos_kept_when_asked(tmp_path):
    Image.new("L", (16, 16), 60).save(tmp_path / "g.png")
    item = PhotoDataset([tmp_path / "g.png"], image_size=16, skip_gray=False)[0]
    assert "skip" not in item and (item["rgb"] == 60).all()


def test_dataset_through_a_dataloader(tmp_path):
    _noise().save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"")
    loader = torch.utils.data.DataLoader(
        PhotoDataset([tmp_path / "a.png", tmp_path / "b.jpg"], image_size=16), batch_size=2, collate_fn=collate_photos
    )
    (batch,) = list(loader)
    assert batch["rgb"].shape == (1, 3, 16, 16) and batch["skipped_unreadable"].item() == 1


def test_predict_dataset_full_resolution(tmp_path, caplog):
    _noise(40, 20).save(tmp_path / "a.png")
    Image.new("L", (20, 30), 9).save(tmp_path / "gray.png")
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    dataset = PredictPhotoDataset([tmp_path / "a.png", tmp_path / "gray.png", tmp_path / "bad.jpg"])
    item = dataset[0]
    assert item["image"].shape == (3, 20, 40) and item["image"].dtype == torch.uint8
    assert item["path"] == str(tmp_path / "a.png")
    # Gray photos are what prediction is for; one channel: a third of the memory of RGB at 100 MP.
    assert dataset[1]["image"].shape == (1, 30, 20) and (dataset[1]["image"] == 9).all()
    with caplog.at_level(logging.WARNING, logger="colorize.data.dataset"):
        marker = dataset[2]
    assert marker == {"skip": "unreadable", "path": str(tmp_path / "bad.jpg")}
    assert "bad.jpg" in caplog.text

    batch = collate_predict([item, marker, dataset[1]])  # sizes differ: a list, the marker dropped
    assert [tuple(x.shape) for x in batch["image"]] == [(3, 20, 40), (1, 30, 20)]
    assert batch["image"][0] is item["image"] and batch["path"] == [str(tmp_path / "a.png"), str(tmp_path / "gray.png")]
    assert batch["dpi"] == [None, None] and batch["icc_profile"] == [None, None]
    assert collate_predict([marker]) == {"image": [], "path": [], "dpi": [], "icc_profile": []}
