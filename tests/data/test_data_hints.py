"""Simulated hints: Zhang's distribution, patch means, layout, seeding; the datamodule adds them in training only."""

from __future__ import annotations

import pytest
import torch
from tiny_runs import tiny_data

from colorize.data.hints import draw_boxes, paint_hints, random_hints


def ab_batch(b: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 2, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_the_number_of_hints_is_geometric_with_zhangs_p():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    counts = []
    for _ in range(20):
        # 1 px patches at distinct places: the number of hinted pixels counts the hints, up to overlaps.
        hints = random_hints(ab_batch(200, 64), p=1 / 8, sizes=(1, 1), locations="uniform", generator=g)
        counts.append(hints[:, 2].flatten(1).sum(1))
    counts = torch.cat(counts)
    assert abs((counts == 0).float().mean().item() - 1 / 8) < 0.02
    assert abs(counts.mean().item() - 7) < 0.4  # overlaps of 1 px hints on 4096 pixels are rare


def test_each_hint_is_its_patchs_mean_ab_and_masked():
    ab = ab_batch(2, 32)
    boxes = torch.tensor([[[3, 4, 5, 1], [20, 22, 2, 1]], [[0, 0, 9, 1], [10, 10, 4, 0]]])
    hints = paint_hints(ab, boxes)
    assert torch.allclose(hints[0, :2, 3:8, 4:9], ab[0, :, 3:8, 4:9].mean((1, 2), keepdim=True).expand(2, 5, 5))
    assert torch.allclose(hints[0, :2, 20, 22], ab[0, :, 20:22, 22:24].mean((1, 2)))
    assert hints[0, 2].sum() == 25 + 4 and hints[1, 2].sum() == 81  # the invalid box paints nothing
    assert not hints[:, :2][hints[:, 2:].expand(-1, 2, -1, -1) == 0].any()


def test_later_hints_paint_over_earlier_ones():
    ab = ab_batch(1, 16)
    hints = paint_hints(ab, torch.tensor([[[0, 0, 8, 1], [2, 2, 2, 1]]]))
    assert torch.allclose(hints[0, :2, 2, 2], ab[0, :, 2:4, 2:4].mean((1, 2)))
    assert torch.allclose(hints[0, :2, 0, 0], ab[0, :, :8, :8].mean((1, 2)))


def test_patches_lie_inside_with_sizes_in_range_and_normal_locations_favour_the_centre():
    g = torch.Generator().manual_seed(1)
    counts = torch.full((4000,), 1)
    for locations in ("normal", "uniform"):
        boxes = draw_boxes(counts, 40, 60, (1, 9), locations, g)[:, 0]
        y0, x0, side = boxes[:, 0], boxes[:, 1], boxes[:, 2]
        assert side.min() == 1 and side.max() == 9
        assert (y0 >= 0).all() and (x0 >= 0).all() and (y0 + side <= 40).all() and (x0 + side <= 60).all()
        centre_y = y0 + side / 2
        share = ((centre_y > 10) & (centre_y < 30)).float().mean().item()
        # N(mean, room / 4): about 68 % within the middle half; uniform: about half.
        assert (share > 0.62) if locations == "normal" else (0.42 < share < 0.58)


def test_the_same_seed_draws_the_same_hints_and_another_seed_others():
    ab = ab_batch(8, 32)

    def draw(seed):
        return random_hints(ab, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"p": 0}, "stop probability"), ({"sizes": (0, 3)}, "hint sizes"), ({"locations": "centre"}, "locations")],
)
def test_bad_options_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_hints(ab_batch(2, 16), **kwargs)


def test_the_datamodule_adds_hints_to_training_batches_only(photo_folder, tmp_path):
    data = tiny_data(photo_folder, tmp_path, hints=True, hint_seed=5)
    rgb = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)

    class Trainer:
        training = True

    data.trainer = Trainer()
    batch = data.on_after_batch_transfer({"rgb": rgb}, 0)
    assert batch["hints"].shape == (2, 3, 32, 32)
    again = tiny_data(photo_folder, tmp_path, hints=True, hint_seed=5)
    again.trainer = Trainer()
    assert torch.equal(again.on_after_batch_transfer({"rgb": rgb}, 0)["hints"], batch["hints"])
    Trainer.training = False
    assert "hints" not in data.on_after_batch_transfer({"rgb": rgb}, 0)
    with pytest.raises(ValueError, match="data.hint_sizes"):
        tiny_data(photo_folder, tmp_path, hints=True, hint_sizes=(1, 64)).validate()
