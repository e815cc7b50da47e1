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
from liveify.data.lyrics import lyric_anchors
from liveify.demo import load_time_map, make_demo_data
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


# --- lyric anchors constrain the path (--align lyrics) --------------------------------------------


def _sung(lines):
    """A Transcript from (start_s, duration_s, text) lines, words evenly spread over each line."""
    from liveify.data.lyrics import Transcript

    segments, words = [], []
    for start_s, duration_s, text in lines:
        segments.append((start_s, start_s + duration_s, text))
        step_s = duration_s / len(text.split())
        words += [(start_s + k * step_s, start_s + (k + 1) * step_s, word)
                  for k, word in enumerate(text.split())]  # fmt: skip
    return Transcript(" ".join(text for *_, text in lines), "en", segments, words)


def test_lyric_anchors_pull_the_dtw_path_to_where_the_words_are_sung():
    """The live take plays the song twice (a reprise); its features match the first pass a
    little better, so DTW alone maps the studio there. The lyrics say the band sang the verse
    in the second pass, and the anchors move the path there."""
    rng = np.random.default_rng(3)
    frames_per_s = 1 / MEL.frame_duration_s
    song = int(20 * frames_per_s)
    chroma = np.repeat(rng.random((12, song // 8 + 1)), 8, axis=1)[:, :song]
    onset = np.repeat(rng.random(song // 8 + 1) ** 4, 8)[:song]
    intro = int(3 * frames_per_s)
    second_pass = intro + song
    live_chroma = np.concatenate(
        [rng.random((12, intro)), chroma, chroma + 0.15 * rng.random(chroma.shape)], axis=1
    )
    live_onset = np.concatenate([rng.random(intro) ** 4, onset, onset])
    studio, live = _features(chroma, onset), _features(live_chroma, live_onset)

    free = align_features(studio, live, MEL, AlignConfig())
    at_10_s = int(10 * frames_per_s)
    assert abs(free.live_frame[at_10_s] - (intro + at_10_s)) < frames_per_s  # the first pass

    verse = "I walked along the harbour lights the city sleeping in the rain"
    chorus = "Oh oh we are the ones who never sleep tonight"
    studio_lyrics = _sung([(2.0, 5.0, verse), (11.0, 5.0, chorus)])
    second_s = second_pass / frames_per_s
    live_lyrics = _sung([
        (0.5, 2.0, "Thank you London how are you"),
        (second_s + 2.0, 5.0, verse),
        (second_s + 11.0, 5.0, chorus),
    ])  # fmt: skip
    anchors = lyric_anchors(studio_lyrics, live_lyrics)
    assert len(anchors) == len(verse.split()) + len(chorus.split())
    anchored = align_features(studio, live, MEL, AlignConfig(), anchors)
    assert abs(anchored.live_frame[at_10_s] - (second_pass + at_10_s)) < frames_per_s
    # the whole song follows the second pass, and the cost is still the features' own
    expected = second_pass + np.arange(song)
    assert np.median(np.abs(anchored.live_frame - expected)) < 3
    assert anchored.cost < 0.2 and free.cost <= anchored.cost


def test_lyric_anchors_skip_banter_and_an_extra_chorus_and_keep_time_order():
    verse = "we ran across the silver bridge tonight"
    chorus = "oh the city sleeping in the rain"
    studio = _sung(
        [(10.0, 4.0, verse), (15.0, 4.0, chorus), (30.0, 4.0, "and then the morning came")]
    )
    live = _sung([
        (2.0, 3.0, "thank you london how are you doing"),
        (20.0, 4.4, verse),
        (25.0, 4.4, chorus),
        (30.0, 4.4, chorus),  # the crowd wanted it twice
        (40.0, 4.4, "and then the morning came"),
    ])  # fmt: skip
    anchors = lyric_anchors(studio, live)
    studio_s = [s for s, _ in anchors]
    live_s = [t for _, t in anchors]
    assert studio_s == sorted(studio_s) and live_s == sorted(live_s)
    assert all(t >= 20.0 for t in live_s)  # nothing from the banter
    assert (10.0, 20.0) in anchors and (30.0, 40.0) in anchors
    # the studio chorus is matched once, to one of the live ones, word by word
    chorus_live = {round(t) for s, t in anchors if 15.0 <= s < 19.0}
    assert chorus_live and (chorus_live <= set(range(25, 30)) or chorus_live <= set(range(30, 35)))
    assert len(anchors) == 7 + 7 + 5
    # without word times, segment starts and ends are the anchors
    from liveify.data.lyrics import Transcript

    coarse = lyric_anchors(
        Transcript(studio.text, "en", studio.segments), Transcript(live.text, "en", live.segments)
    )
    assert (10.0, 20.0) in coarse and (14.0, 24.4) in coarse
    assert lyric_anchors(studio, _sung([(1.0, 3.0, "nothing like it at all here")])) == []
