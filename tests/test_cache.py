"""The aligned-pair cache: hits, misses on config or content change, corrupt entries rebuilt."""

import json
import logging
import os
import shutil
import zipfile

import numpy as np
import pytest

from liveify.data.cache import PairCache
from liveify.data.dataset import prepare_pairs
from liveify.demo import make_demo_data
from liveify.errors import DataError
from liveify.mel import MelConfig


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def test_round_trip_keeps_dtypes_and_values(tmp_path):
    cache = PairCache(tmp_path / "cache")
    studio = _write(tmp_path / "a.wav", b"studio bytes")
    live = _write(tmp_path / "b.wav", b"live bytes")
    key = cache.key(studio, live, {"mel": {"n_mels": 8}})
    assert cache.load(key) is None and cache.misses == 1
    mel = np.linspace(-1, 1, 80, dtype=np.float32).reshape(8, 10).astype(np.float16)
    cache.save(key, {"studio_mel": mel, "align_cost": np.float64(0.05)})
    loaded = cache.load(key)
    assert cache.hits == 1
    assert loaded["studio_mel"].dtype == np.float16
    np.testing.assert_array_equal(loaded["studio_mel"], mel)
    assert float(loaded["align_cost"]) == 0.05
    assert not [name for name in os.listdir(cache.cache_dir) if name.endswith(".tmp")]


def test_key_follows_settings_and_content_not_names_or_timestamps(tmp_path):
    cache = PairCache(tmp_path / "cache")
    studio = _write(tmp_path / "a.wav", b"studio bytes")
    live = _write(tmp_path / "b.wav", b"live bytes")
    key = cache.key(studio, live, {"mel": {"n_mels": 8}, "align": {"downsample": 4}})
    assert cache.key(studio, live, {"align": {"downsample": 4}, "mel": {"n_mels": 8}}) == key
    assert cache.key(studio, live, {"mel": {"n_mels": 16}, "align": {"downsample": 4}}) != key
    assert cache.key(live, studio, {"mel": {"n_mels": 8}, "align": {"downsample": 4}}) != key
    # Same bytes under a new time stamp: re-hashed, same key. New bytes: new key.
    os.utime(studio, ns=(1, 1))
    assert cache.key(studio, live, {"mel": {"n_mels": 8}, "align": {"downsample": 4}}) == key
    _write(studio, b"studio bytes, remastered")
    assert cache.key(studio, live, {"mel": {"n_mels": 8}, "align": {"downsample": 4}}) != key
    copy = _write(tmp_path / "renamed.wav", b"live bytes")
    assert cache.key(tmp_path / "a.wav", copy, {"x": 1}) == cache.key(studio, live, {"x": 1})


def test_same_size_rewrite_with_mtime_set_back_is_rehashed(tmp_path):
    cache = PairCache(tmp_path / "cache")
    studio = _write(tmp_path / "a.wav", b"studio bytes")
    live = _write(tmp_path / "b.wav", b"live bytes")
    os.utime(studio, ns=(10**18, 10**18))
    key = cache.key(studio, live, {"x": 1})
    # Same size, same mtime (as cp -p / rsync -t would leave it): ctime still moved on.
    _write(studio, b"STUDIO BYTES")
    os.utime(studio, ns=(10**18, 10**18))
    assert cache.key(studio, live, {"x": 1}) != key
    # A fresh PairCache reads the same index and agrees.
    assert PairCache(tmp_path / "cache").key(studio, live, {"x": 1}) != key


def test_stamps_are_trusted_only_when_not_racy(tmp_path):
    cache = PairCache(tmp_path / "cache")
    studio = _write(tmp_path / "a.wav", b"studio bytes")
    true_digest = cache.digest(studio)
    index_path = cache.cache_dir / "file-digests.json"
    index = json.loads(index_path.read_text())
    (entry,) = index.values()
    assert entry[-1] == true_digest and entry[0] == len(b"studio bytes")

    def reload_with(hashed_at_ns):
        entry[4], entry[5] = hashed_at_ns, "0" * 64  # a stale digest the index would return
        index_path.write_text(json.dumps(index))
        return PairCache(tmp_path / "cache").digest(studio)

    changed_ns = max(os.stat(studio).st_mtime_ns, os.stat(studio).st_ctime_ns)
    # Hashed well after the last change: the stamp is trusted (no re-read of the file).
    assert reload_with(changed_ns + 10**10) == "0" * 64
    # Hashed in the same instant as the change: the file may have changed since; re-hashed.
    assert reload_with(changed_ns) == true_digest
    # Entries from the older index layout are re-hashed too.
    index = {str(studio.resolve()): [entry[0], entry[1], "0" * 64]}
    index_path.write_text(json.dumps(index))
    assert PairCache(tmp_path / "cache").digest(studio) == true_digest


def test_entries_are_plain_npz_with_stored_mels(tmp_path):
    cache = PairCache(tmp_path / "cache")
    mel = np.linspace(-1, 1, 600, dtype=np.float32).reshape(6, 100).astype(np.float16)
    frames = np.arange(100, dtype=np.float32)
    path = cache.save("abc", {"studio_mel": mel, "live_frame": frames})
    with zipfile.ZipFile(path) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert kinds["studio_mel.npy"] == zipfile.ZIP_STORED
    assert kinds["live_frame.npy"] == zipfile.ZIP_DEFLATED
    with np.load(path, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["studio_mel"], mel)
        assert archive["studio_mel"].dtype == np.float16
    # A bit flipped inside a stored mel fails the zip CRC: a miss, and the entry is removed.
    data = bytearray(path.read_bytes())
    offset = data.index(mel.tobytes()[:32]) + 100
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    assert cache.load("abc") is None and not path.exists()


def test_corrupt_entry_is_a_miss_and_removed(tmp_path):
    cache = PairCache(tmp_path / "cache")
    path = cache.save("abc", {"studio_mel": np.zeros((2, 3), np.float16)})
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert cache.load("abc") is None and not path.exists()


def test_object_arrays_are_refused(tmp_path):
    cache = PairCache(tmp_path / "cache")
    with pytest.raises(DataError, match="object array"):
        cache.save("abc", {"bad": np.array([{"a": 1}], dtype=object)})


@pytest.fixture(scope="module")
def demo_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    make_demo_data(root, songs=2, duration_s=4, seed=2)
    return root / "studio", root / "live"


def _prepare(demo_dirs, cache_dir, **kwargs):
    return prepare_pairs(*demo_dirs, cache_dir=cache_dir, progress=False, **kwargs)


def test_prepare_pairs_hits_the_cache_and_rebuilds_on_changes(demo_dirs, tmp_path):
    first = _prepare(demo_dirs, tmp_path)
    assert (first.cache_hits, first.cache_misses) == (0, 2)
    second = _prepare(demo_dirs, tmp_path)
    assert (second.cache_hits, second.cache_misses) == (2, 0)
    for fresh, cached in zip(first.songs, second.songs, strict=True):
        np.testing.assert_array_equal(fresh.studio_mel, cached.studio_mel)
        np.testing.assert_array_equal(fresh.live_mel, cached.live_mel)
        assert fresh.align_cost == pytest.approx(cached.align_cost)

    # A different mel config is a different cache entry (and different arrays).
    small = _prepare(demo_dirs, tmp_path, mel_config=MelConfig(n_mels=64))
    assert (small.cache_hits, small.cache_misses) == (0, 2)
    assert small.songs[0].studio_mel.shape[0] == 64

    # A corrupt entry is rebuilt, the other one still hits.
    entries = sorted((tmp_path / "pairs").glob("pair-*.npz"), key=os.path.getmtime)
    with zipfile.ZipFile(entries[0], "w") as broken:
        broken.writestr("studio_mel.npy", b"not an array")
    rebuilt = _prepare(demo_dirs, tmp_path)
    assert (rebuilt.cache_hits, rebuilt.cache_misses) == (1, 1)
    np.testing.assert_array_equal(rebuilt.songs[0].live_mel, first.songs[0].live_mel)

    # The rejection threshold is applied to cached pairs: re-judging recomputes nothing.
    costs = sorted(song.align_cost for song in first.songs)
    judged = _prepare(demo_dirs, tmp_path, max_align_cost=(costs[0] + costs[1]) / 2)
    assert (judged.cache_hits, judged.cache_misses) == (2, 0)
    assert len(judged.songs) == 1 and len(judged.rejected) == 1
    assert "alignment cost" in judged.rejected[0][1]


def test_all_rejected_is_one_clear_error(demo_dirs, tmp_path):
    _prepare(demo_dirs, tmp_path)
    with pytest.raises(DataError, match=r"all 2 song pairs were rejected.*alignment cost"):
        _prepare(demo_dirs, tmp_path, max_align_cost=1e-6)


def test_a_broken_file_is_rejected_and_the_rest_prepared(demo_dirs, tmp_path, caplog):
    studio_dir, live_dir = tmp_path / "studio", tmp_path / "live"
    shutil.copytree(demo_dirs[0], studio_dir)
    shutil.copytree(demo_dirs[1], live_dir)
    broken = sorted(live_dir.glob("*.wav"))[0]
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    with caplog.at_level(logging.INFO, logger="liveify.data"):
        prepared = prepare_pairs(studio_dir, live_dir, cache_dir=tmp_path / "cache", progress=False)
    lines = [record.getMessage() for record in caplog.records]
    assert len(prepared.songs) == 1 and len(prepared.rejected) == 1
    assert broken.name in prepared.rejected[0][1]
    assert lines == [f"rejected {prepared.rejected[0][0]}: {prepared.rejected[0][1]}"]
