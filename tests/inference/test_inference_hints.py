"""User hints: the hints file and its checks, the working-size mapping, Colorizer and `colorize predict --hints`."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from tiny_runs import tiny_run_args

from colorize.color import AB_SCALE, rgb_to_normalized_lab
from colorize.inference.colorizer import Colorizer
from colorize.inference.full_resolution import colorize_image
from colorize.inference.hints import Hint, hex_to_ab, hint_planes, hints_to_json, parse_hints, read_hints_file
from colorize.models.unet import UNet


class PaintsTheHints(torch.nn.Module):
    """A 'generator' whose output is its hints' ab: what reaches it is exactly what the mapping produced."""

    takes_hints = True
    stride = 1

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, L, hints=None):
        return torch.zeros_like(L).expand(-1, 2, -1, -1) if hints is None else hints[:, :2]


def test_a_square_maps_to_the_mean_ab_over_its_footprint_at_the_working_size():
    # 400x200 photo -> 100x50 working: 4 original px per working px.
    planes = hint_planes([Hint(x=10, y=10, a=44, b=-22, size=8)], 200, 400, (50, 100))
    # [6, 14) touches cells 1 (half), 2 (fully) and 3 (half) on each axis.
    assert planes[0, 2].sum() == 9 and planes[0, 2, 1:4, 1:4].all()
    assert torch.allclose(planes[0, :2, 2, 2] * AB_SCALE, torch.tensor([44.0, -22.0]))
    two = hint_planes([Hint(2, 2, 50, 0, 4), Hint(6, 2, 0, 50, 4)], 200, 400, (50, 100))
    assert torch.allclose(two[0, :2, 0, 0] * AB_SCALE, torch.tensor([50.0, 0.0]))  # [0, 4): cell 0 only
    assert torch.allclose(two[0, :2, 0, 1] * AB_SCALE, torch.tensor([0.0, 50.0]))  # [4, 8): cell 1 only
    # Two hints sharing a cell, 2 px of it each: the area-weighted mean.
    mixed = hint_planes([Hint(4, 2, 50, 0, 4), Hint(8, 2, 0, 50, 4)], 200, 400, (50, 100))
    assert torch.allclose(mixed[0, :2, 0, 1] * AB_SCALE, torch.tensor([25.0, 25.0]))
    tiny = hint_planes([Hint(3999.5, 2999.5, 10, 10, 1)], 3000, 4000, (128, 176))
    assert tiny[0, 2].sum() == 1 and tiny[0, 2, -1, -1] == 1  # a 1-px hint still marks its working pixel
    assert not hint_planes([], 30, 40, (8, 8)).any()


def test_a_hint_reaches_the_generator_at_its_place_and_lightness_stays():
    photo = torch.full((3, 120, 160), 128, dtype=torch.uint8)
    photo[:, :, 80:] = 200
    a, b = (v * 0.6 for v in hex_to_ab("#b03a2e"))  # within the gamut at this gray's lightness
    out = colorize_image(PaintsTheHints(), photo, target_size=60, hints=[Hint(40, 60, a, b, 20)])
    L_out, ab_out = rgb_to_normalized_lab(out.unsqueeze(0))
    L_in, _ = rgb_to_normalized_lab(photo.unsqueeze(0))
    assert torch.allclose(ab_out[0, :, 60, 40] * AB_SCALE, torch.tensor([a, b]), atol=2.0)
    assert ab_out[0, :, 5, 5].abs().max() * AB_SCALE < 1  # away from the hint: gray
    assert (L_out - L_in).abs().max() * 50 < 1.0
    with pytest.raises(ValueError, match="trained without hints"):
        colorize_image(UNet(base_width=4, depth=2), photo, target_size=64, hints=[Hint(1, 1, 1, 1)])


def test_colorizer_takes_the_hints_files_objects():
    photo = torch.full((3, 64, 64), 100, dtype=torch.uint8)
    colorizer = Colorizer(PaintsTheHints(), image_size=64, name="painter", source=None)
    out = colorizer.colorize(photo, hints=[{"x": 32, "y": 32, "ab": [40.0, 10.0], "size": 8}])
    ab = rgb_to_normalized_lab(out.unsqueeze(0))[1][0, :, 32, 32] * AB_SCALE
    assert torch.allclose(ab, torch.tensor([40.0, 10.0]), atol=2.0)
    with pytest.raises(ValueError, match="'hints' hint 0: \\(64, 1\\) is outside the photo \\(64x64 px\\)"):
        colorizer.colorize(photo, hints=[{"x": 64, "y": 1, "color": "#ffffff"}])
    plain = Colorizer(UNet(base_width=4, depth=2), image_size=64, name="plain", source=None)
    assert not plain.takes_hints
    with pytest.raises(ValueError, match="plain was trained without hints"):
        plain.colorize(photo, hints=[{"x": 1, "y": 1, "color": "#ffffff"}])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"a.png": [{"x": 1, "y": 1, "color": "#ff0000"}', "not a JSON file"),
        ('{"other.png": []}', "'other.png' is not among the inputs"),
        ('{"a.png": [{"x": 5, "y": 1, "color": "#ff0000"}, {"x": 40, "y": 3, "color": "#00ff00"}]}',
         "'a.png' hint 1: \\(40, 3\\) is outside the photo \\(40x30 px\\)"),
        ('{"a.png": [{"x": 1, "y": -1, "color": "#ff0000"}]}', "'a.png' hint 0: \\(1, -1\\) is outside"),
        ('{"a.png": [{"x": 1, "y": 1, "color": "red"}]}', "'a.png' hint 0: color must be an sRGB hex"),
        ('{"a.png": [{"x": 1, "y": 1, "ab": [200, 0]}]}', "'a.png' hint 0: ab must lie within"),
        ('{"a.png": [{"x": 1, "y": 1, "ab": [1, 0], "color": "#000000"}]}', "exactly one of color"),
        ('{"a.png": [{"x": 1, "y": 1, "color": "#000000", "size": 0}]}', "'a.png' hint 0: size must be > 0"),
        ('{"a.png": [{"x": 1, "y": 1, "colour": "#000000"}]}', "unknown keys \\['colour'\\]"),
        ('{"a.png": [{"y": 1, "color": "#000000"}]}', "'a.png' hint 0: x is missing"),
        ('{"a.png": {"x": 1}}', "'a.png': hints must be a list"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_entry_is_refused_by_name(tmp_path, content, message):
    Image.new("RGB", (40, 30)).save(tmp_path / "a.png")
    (tmp_path / "hints.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        read_hints_file(tmp_path / "hints.json", {"a.png": tmp_path / "a.png"})


def test_the_hints_file_round_trips(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "a.png")
    hints = {"a.png": parse_hints([{"x": 3, "y": 4, "color": "#336699", "size": 5}], "a.png")}
    (tmp_path / "hints.json").write_text(hints_to_json(hints))
    again = read_hints_file(tmp_path / "hints.json", {"a.png": tmp_path / "a.png"})
    assert again["a.png"][0].x == 3 and again["a.png"][0].size == 5
    assert abs(again["a.png"][0].a - hints["a.png"][0].a) < 1e-3


def test_predict_with_hints_checks_everything_first_and_uses_them(photo_folder, tmp_path, monkeypatch):
    import colorize.inference.full_resolution as full_resolution
    from colorize.cli import run_cli

    mapped = []

    def recording(hints, height, width, size):
        mapped.append((list(hints), height, width))
        return hint_planes(hints, height, width, size)

    monkeypatch.setattr(full_resolution, "hint_planes", recording)

    run = tmp_path / "run"
    with_hints = ["--model.generator.init_args.hints=true", "--model.discriminator.init_args.in_channels=6"]
    with_hints += ["--data.hints=true"]
    run_cli(["fit", *tiny_run_args(photo_folder, run, *with_hints)])
    inputs = tmp_path / "inputs"
    (inputs / "album").mkdir(parents=True)
    Image.open(next(photo_folder.rglob("*.jpg"))).convert("L").resize((60, 40)).save(inputs / "album" / "p.png")
    args = [*tiny_run_args(photo_folder, run, *with_hints), f"--input={inputs}"]

    def predict(hints: dict, out: str) -> None:
        (tmp_path / f"{out}.json").write_text(json.dumps(hints))
        run_cli(["predict", *args, f"--output={tmp_path / out}", f"--hints={tmp_path / out}.json"])

    with pytest.raises(SystemExit, match="'album/p.png' hint 0: \\(60, 5\\) is outside the photo \\(60x40 px\\)"):
        predict({"album/p.png": [{"x": 60, "y": 5, "color": "#ff0000"}]}, "bad")
    assert not (tmp_path / "bad").exists()  # refused before any work
    with pytest.raises(SystemExit, match="'p.png' is not among the inputs"):
        predict({"p.png": []}, "bad")
    predict({"album/p.png": [{"x": 30, "y": 20, "color": "#00c000", "size": 30}]}, "hinted")
    # The photo's hints reached the generator's pass, in the photo's own pixels (what they do: the tests above).
    assert mapped == [([Hint(30.0, 20.0, *hex_to_ab("#00c000"), 30.0)], 40, 60)]
    assert Image.open(tmp_path / "hinted" / "album" / "p.png").size == (60, 40)
    mapped.clear()
    predict({}, "plain")
    assert mapped == [] and (tmp_path / "plain" / "album" / "p.png").is_file()

    free = tmp_path / "free"
    run_cli(["fit", *tiny_run_args(photo_folder, free)])
    (tmp_path / "h.json").write_text("{}")
    with pytest.raises(SystemExit, match="--hints .*h.json: this model was trained without hints"):
        run_cli(["predict", *tiny_run_args(photo_folder, free), f"--input={inputs}", f"--hints={tmp_path / 'h.json'}"])
    with pytest.raises(SystemExit, match="colorize test: --hints is for colorize predict"):
        run_cli(["test", *tiny_run_args(photo_folder, free), f"--hints={tmp_path / 'h.json'}"])


@torch.no_grad()
def test_a_hint_models_checkpoint_and_export_keep_the_hint_path(photo_folder, tmp_path):
    from colorize.cli import run_cli
    from colorize.inference.colorizer import export_checkpoint, load_colorizer

    run = tmp_path / "run"
    with_hints = ["--model.generator.init_args.hints=true", "--model.discriminator.init_args.in_channels=6"]
    run_cli(["fit", *tiny_run_args(photo_folder, run, *with_hints, "--data.hints=true")])
    checkpoint = load_colorizer(run / "checkpoints" / "last.ckpt")
    export = load_colorizer(export_checkpoint(run / "checkpoints" / "last.ckpt", tmp_path / "g.safetensors"))
    assert checkpoint.takes_hints and export.takes_hints
    L, hints = torch.rand(1, 1, 32, 32) * 2 - 1, torch.zeros(1, 3, 32, 32)
    hints[:, :, 10:20, 10:20] = torch.tensor([0.3, -0.2, 1.0]).view(1, 3, 1, 1)
    assert torch.equal(checkpoint.network.eval()(L, hints), export.network.eval()(L, hints))
    assert checkpoint.generator.down[0][0].weight[:, 1:].abs().sum() > 0  # trained: the hint weights moved
