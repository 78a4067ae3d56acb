"""The paper's split rule (colorize.data.splits): determinism, disjointness, sizes, manifests, errors."""

import json
import random

import numpy as np
import pytest

from colorize.data.splits import Split, check_split_sizes, make_split


def _names(n: int) -> list[str]:
    return [f"img_{i:05d}.jpg" for i in range(n)]


def _expected(n, seed, draw, val_size, test_size, train_size=None):
    """The documented rule, written out step by step on indices of the sorted names."""
    rng = np.random.RandomState(seed)
    chosen = rng.choice(n, draw, replace=False)
    perm = rng.permutation(draw)
    test = chosen[perm[draw - test_size :]]
    rest = chosen[perm[: draw - test_size]]
    leftover = sorted(set(range(n)) - set(chosen.tolist()))
    if len(leftover) >= val_size:
        val = leftover[:val_size]
    else:
        val, rest = rest[-val_size:], rest[:-val_size]
    train = rest[:train_size] if train_size else rest
    names = _names(n)
    return [names[i] for i in train], [names[i] for i in val], [names[i] for i in test]


def test_reproduces_the_documented_rule_with_undrawn_val(tmp_path):
    split = make_split(_names(300), tmp_path, seed=123, draw_size=250, val_size=20, test_size=30)
    assert (split.train, split.val, split.test) == _expected(300, 123, 250, 20, 30)
    assert (len(split.train), len(split.val), len(split.test)) == (220, 20, 30)


def test_reproduces_the_documented_rule_with_val_from_the_draw(tmp_path):
    split = make_split(_names(300), tmp_path, seed=7, val_size=40, test_size=30, train_size=200)
    assert (split.train, split.val, split.test) == _expected(300, 7, 300, 40, 30, train_size=200)
    assert (len(split.train), len(split.val), len(split.test)) == (200, 40, 30)


def test_paper_sizes(tmp_path):
    split = make_split(_names(21837), tmp_path, draw_size=20000, train_size=19900)
    assert (len(split.train), len(split.val), len(split.test)) == (19900, 100, 100)
    assert (split.seed, split.num_images) == (123, 21837)


def test_deterministic_disjoint_and_order_independent(tmp_path):
    names = _names(300)
    shuffled = names[:]
    random.Random(0).shuffle(shuffled)
    a = make_split(names, tmp_path, seed=1, draw_size=200, val_size=20, test_size=20)
    assert a == make_split(shuffled, tmp_path, seed=1, draw_size=200, val_size=20, test_size=20)
    b = make_split(names, tmp_path, seed=2, draw_size=200, val_size=20, test_size=20)
    assert a.train != b.train and a.test != b.test
    for split in (a, b):
        train, val, test = map(set, (split.train, split.val, split.test))
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test <= set(names)


def test_absolute_paths_become_relative(tmp_path):
    (tmp_path / "sub").mkdir()
    paths = [tmp_path / "sub" / n for n in _names(20)]
    split = make_split(paths, tmp_path, val_size=2, test_size=2)
    assert all(p.startswith("sub/") for p in split.train + split.val + split.test)
    assert split.root == str(tmp_path.resolve())
    assert set(split.paths("train")) <= set(paths)
    with pytest.raises(ValueError, match="subset"):
        split.paths("training")
    with pytest.raises(ValueError, match="not inside"):
        make_split([tmp_path.parent / "elsewhere.jpg"], tmp_path, val_size=0, test_size=0)


def test_zero_sizes(tmp_path):
    split = make_split(_names(10), tmp_path, val_size=0, test_size=0)
    assert (len(split.train), split.val, split.test) == (10, [], [])


def test_manifest_round_trip(tmp_path):
    split = make_split(_names(50), tmp_path, seed=5, draw_size=40, train_size=30, val_size=5, test_size=5)
    manifest = tmp_path / "runs" / "split.json"
    split.save(manifest)
    assert Split.load(manifest) == split
    assert json.loads(manifest.read_text())["train"] == split.train
    assert [p.name for p in manifest.parent.iterdir()] == ["split.json"]  # no temp file left behind
    split.save(manifest)  # overwriting is fine
    assert Split.load(manifest) == split


def test_manifest_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Split.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        Split.load(tmp_path / "broken.json")
    (tmp_path / "partial.json").write_text(json.dumps({"root": "/x", "train": []}))
    with pytest.raises(ValueError, match=r"partial.json.*missing keys"):
        Split.load(tmp_path / "partial.json")


@pytest.mark.parametrize(
    ("sizes", "option"),
    [
        ({"draw_size": 301}, r"data\.draw_size=301.*300 images"),
        ({"draw_size": 250, "train_size": 221, "val_size": 20, "test_size": 30}, r"data\.train_size=221.*only 220"),
        ({"test_size": 301}, r"data\.test_size=301"),
        ({"val_size": 280, "test_size": 30}, r"data\.val_size=280"),
        ({"draw_size": -1}, r"data\.draw_size.*-1"),
        ({"train_size": -5}, r"data\.train_size.*-5"),
        ({"val_size": -1}, r"data\.val_size"),
        ({"test_size": -1}, r"data\.test_size"),
    ],
)
def test_bad_sizes_name_the_option(tmp_path, sizes, option):
    with pytest.raises(ValueError, match=option):
        make_split(_names(300), tmp_path, **sizes)
    with pytest.raises(ValueError, match=option):
        check_split_sizes(300, **sizes)


def test_sizes_that_just_fit(tmp_path):
    check_split_sizes(300, draw_size=300, train_size=200, val_size=70, test_size=30)
    split = make_split(_names(300), tmp_path, draw_size=300, train_size=200, val_size=70, test_size=30)
    assert (len(split.train), len(split.val), len(split.test)) == (200, 70, 30)


# ---- held-out sources -------------------------------------------------------------------------


def _sourced(counts: dict[str, int]) -> list[str]:
    return [f"{source}/img_{i:03d}.jpg" for source, n in counts.items() for i in range(n)]


def test_test_sources_hold_out_whole_folders(tmp_path):
    names = _sourced({"gcompris": 30, "tuxpaint": 10, "scratch": 12, "mvtb": 7})
    split = make_split(names, tmp_path, seed=5, val_size=6, test_sources=["scratch", "mvtb"])
    assert sorted(split.test) == sorted(n for n in names if n.startswith(("scratch/", "mvtb/")))
    trained_on = set(split.train) | set(split.val)
    assert not trained_on & set(split.test)
    assert all(n.startswith(("gcompris/", "tuxpaint/")) for n in trained_on)
    assert len(split.val) == 6 and len(split.train) == 34 and not set(split.train) & set(split.val)
    assert split.test_sources == ["mvtb", "scratch"] and split.num_images == len(names)
    # The training side follows the paper's rule on the remaining photos, so it is reproducible.
    again = make_split(list(reversed(names)), tmp_path, seed=5, val_size=6, test_sources=["mvtb", "scratch"])
    assert (again.train, again.val, again.test) == (split.train, split.val, split.test)
    split.save(tmp_path / "split.json")
    assert Split.load(tmp_path / "split.json") == split


def test_test_sources_errors_name_the_option_and_the_folders(tmp_path):
    names = _sourced({"a": 5, "b": 5})
    with pytest.raises(ValueError, match=r"data\.test_sources.*\['c'\].*\['a', 'b'\]"):
        make_split(names, tmp_path, val_size=1, test_sources=["c"])
    with pytest.raises(ValueError, match=r"data\.test_sources.*every photo"):
        make_split(names, tmp_path, val_size=1, test_sources=["a", "b"])


def test_manifest_without_test_sources_still_loads(tmp_path):
    split = make_split(_names(20), tmp_path, val_size=2, test_size=3)
    data = {k: v for k, v in json.loads(json.dumps(split.__dict__)).items() if k != "test_sources"}
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert Split.load(tmp_path / "old.json").test_sources is None
