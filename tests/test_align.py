"""DTW alignment of live takes onto the studio timeline, checked against known time maps."""

import numpy as np
import pytest

from liveify.data.align import (
    AlignConfig,
    AlignmentFeatures,
    align_features,
    align_recordings,
    analyse,
    load_mono,
    warp_frames,
)
from liveify.data.demo import load_time_map, make_demo_data
from liveify.errors import DataError, ParameterError
from liveify.mel import MelConfig

MEL = MelConfig()
FRAMES_PER_S = MEL.sample_rate / MEL.hop_length


@pytest.fixture(scope="module")
def demo_songs(tmp_path_factory):
    return make_demo_data(tmp_path_factory.mktemp("demo"), songs=2, duration_s=8, seed=5)


@pytest.fixture(scope="module")
def aligned(demo_songs):
    return [align_recordings(s, live, mel_config=MEL) for s, live, _ in demo_songs]


def test_recovers_known_offset_and_tempo_drift(demo_songs, aligned):
    for (_, live_path, _), pair in zip(demo_songs, aligned, strict=True):
        time_map = load_time_map(live_path.with_suffix(".json"))
        studio_frames = np.arange(pair.studio_mel.shape[1])
        expected = time_map(studio_frames / FRAMES_PER_S) * FRAMES_PER_S
        error = np.abs(pair.alignment.live_frame - expected)
        assert np.median(error) <= 3.0
        assert np.percentile(error, 90) <= 6.0
        # The crowd intro (2-5 s, i.e. 86-215 frames) is found, not assumed.
        assert abs(pair.alignment.live_frame[0] - expected[0]) <= 6.0
        assert expected[0] > 80


def _frame_correlation(a, b):
    """Mean over frames of the correlation between two mels' spectral shapes."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norms = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-9
    return float(np.mean(np.sum(a * b, axis=0) / norms))


def test_warped_live_mel_lines_up_with_studio(demo_songs, aligned):
    for (_, live_path, _), pair in zip(demo_songs, aligned, strict=True):
        assert pair.live_mel.shape == pair.studio_mel.shape
        assert pair.live_mel.dtype == np.float32
        assert pair.live_mel.min() >= -1.0 and pair.live_mel.max() <= 1.0
        # Frame-to-frame agreement with the studio is far better after warping than when the
        # live mel is only cropped from its start (ignoring the intro and the drift).
        unwarped, _ = analyse(load_mono(live_path, MEL.sample_rate), MEL)
        cropped = unwarped[:, : pair.studio_mel.shape[1]]
        warped_corr = _frame_correlation(pair.studio_mel, pair.live_mel)
        cropped_corr = _frame_correlation(pair.studio_mel, cropped)
        assert warped_corr > cropped_corr + 0.15


def test_a_different_song_costs_far_more(demo_songs, aligned):
    (studio_a, _, _), (_, live_b, _) = demo_songs
    mismatched = align_recordings(studio_a, live_b, mel_config=MEL)
    matched_costs = [pair.alignment.cost for pair in aligned]
    assert max(matched_costs) < 0.12
    assert mismatched.alignment.cost > 2 * max(matched_costs)


def _features(chroma, onset):
    return AlignmentFeatures(chroma.astype(np.float32), onset.astype(np.float32))


def test_feature_level_warp_with_live_shorter_than_studio():
    # Random "music": chroma and onsets; the live version plays 3 % faster with no intro, so it
    # is shorter than the studio one (the query must still be the studio).
    rng = np.random.default_rng(0)
    n_studio = 600
    chroma = np.repeat(rng.random((12, n_studio // 6)), 6, axis=1)
    onset = np.repeat(rng.random(n_studio // 6) ** 4, 6)
    live_positions = np.arange(int(n_studio / 1.03))
    studio_positions = live_positions * 1.03
    live_chroma = np.stack(
        [np.interp(studio_positions, np.arange(n_studio), row) for row in chroma]
    )
    live_onset = np.interp(studio_positions, np.arange(n_studio), onset)
    alignment = align_features(
        _features(chroma, onset), _features(live_chroma, live_onset), MEL, AlignConfig()
    )
    expected = np.arange(n_studio) / 1.03
    error = np.abs(alignment.live_frame - np.minimum(expected, live_positions[-1]))
    assert np.median(error) <= 2.0
    assert np.all(np.diff(alignment.live_frame) >= 0)  # a time map never runs backwards


def test_warp_frames_interpolates_between_columns():
    live = np.arange(12, dtype=np.float32).reshape(2, 6)
    warped = warp_frames(live, np.array([0.0, 0.5, 4.25, 9.0]))
    np.testing.assert_allclose(warped, [[0, 0.5, 4.25, 5], [6, 6.5, 10.25, 11]])


def test_bad_settings_and_inputs_are_reported():
    with pytest.raises(ParameterError, match="onset_weight"):
        AlignConfig(onset_weight=2.0)
    tiny = _features(np.ones((12, 1)), np.ones(1))
    with pytest.raises(DataError, match="too short"):
        align_features(tiny, tiny, MEL, AlignConfig())
