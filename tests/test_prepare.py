"""`liveify prepare`: the alignment cache filled in parallel is the one `liveify train` reads."""

import numpy as np
import pytest
from click.testing import CliRunner

from liveify.cli import main
from liveify.data.dataset import prepare_pairs
from liveify.demo import make_demo_data


@pytest.fixture(scope="module")
def demo_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    make_demo_data(root, songs=3, duration_s=3.0, seed=4)
    return root / "studio", root / "live"


def prepare(*args):
    return CliRunner().invoke(main, ["prepare", "--no-progress", *map(str, args)])


def test_prepare_fills_the_cache_that_training_then_reads_without_recomputing(demo_dirs, tmp_path):
    studio, live = demo_dirs
    cache = tmp_path / "cache"
    result = prepare(studio, live, "--cache-dir", cache, "--workers", 2)
    assert result.exit_code == 0, result.output
    assert "3 pairs: 3 prepared, 0 cached, 0 failed" in result.output
    entries = sorted((cache / "pairs").glob("pair-*.npz"))
    assert len(entries) == 3
    assert not list(cache.rglob("*.partial*"))

    prepared = prepare_pairs(studio, live, cache_dir=cache, progress=False)
    assert (prepared.cache_hits, prepared.cache_misses, len(prepared.songs)) == (3, 0, 3)
    fresh = prepare_pairs(studio, live, use_cache=False, progress=False)
    for cached, computed in zip(prepared.songs, fresh.songs, strict=True):
        np.testing.assert_array_equal(cached.live_mel, computed.live_mel)

    again = prepare(studio, live, "--cache-dir", cache, "--workers", 1, "--shard", "1/2")
    assert again.exit_code == 0, again.output
    assert "1 pairs: 0 prepared, 1 cached, 0 failed" in again.output  # shard 1 of 2: one pair
    assert sorted((cache / "pairs").glob("pair-*.npz")) == entries
