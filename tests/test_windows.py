import numpy as np
import pytest

from liveify.errors import ParameterError
from liveify.mel import SILENT_LEVEL
from liveify.windows import (
    OverlapAdd,
    crossfade_weights,
    overlap_add,
    split_windows,
    window_starts,
)


@pytest.mark.parametrize("n_frames", [1, 37, 64, 65, 200, 1000])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.75])
def test_identity_model_reproduces_the_mel_exactly(n_frames, overlap):
    mel = np.random.default_rng(n_frames).uniform(-1, 1, (8, n_frames)).astype(np.float32)
    windows, starts = split_windows(mel, 64, overlap, pad_value=SILENT_LEVEL)
    assert windows.shape[1:] == (8, 64)
    rebuilt = overlap_add(windows, starts, n_frames, 64, overlap)
    np.testing.assert_allclose(rebuilt, mel, atol=1e-6)


def test_windows_cover_every_frame_and_pad_with_silence():
    starts = window_starts(150, 64, 0.5)
    assert list(starts) == [0, 32, 64, 96]
    windows, _ = split_windows(np.zeros((2, 150), np.float32), 64, 0.5, pad_value=SILENT_LEVEL)
    assert windows[-1][:, 150 - 96 :].max() == SILENT_LEVEL


def test_neighbouring_fades_sum_to_one_inside_the_track():
    weights = crossfade_weights(64, 0.5)
    np.testing.assert_allclose(weights[32:] + weights[:32], 1.0)


def test_blend_is_a_weighted_average_across_the_overlap():
    outputs = np.stack([np.zeros((1, 8)), np.ones((1, 8))]).astype(np.float32)
    blended = overlap_add(outputs, np.array([0, 4]), 12, 8, 0.5)
    assert blended[0, :4].max() == 0 and blended[0, 8:].min() == 1
    assert np.all(np.diff(blended[0, 4:8]) > 0)


def test_bad_overlap_is_a_parameter_error():
    with pytest.raises(ParameterError, match="overlap"):
        window_starts(10, 8, 1.0)


def test_streaming_blend_hands_out_final_frames_equal_to_the_whole_blend():
    rng = np.random.default_rng(0)
    outputs = rng.uniform(-1, 1, (6, 3, 64)).astype(np.float32)
    starts = window_starts(64 + 5 * 32, 64, 0.5)
    whole = overlap_add(outputs, starts, 200, 64, 0.5)
    blend = OverlapAdd(3, 64, 0.5)
    pieces = []
    for output in outputs:
        blend.add(output)
        assert blend.final_end == blend.next_window_start
        pieces.append(blend.pop(blend.final_end))  # frames no later window reaches
    pieces.append(blend.pop(200, finished=True))
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-6)
    with pytest.raises(AssertionError, match="not final"):
        OverlapAdd(3, 64, 0.5).pop(1)


def test_overlap_add_refuses_irregular_starts():
    with pytest.raises(ParameterError, match="every 32 frames"):
        overlap_add(np.zeros((2, 1, 64)), np.array([0, 30]), 90, 64, 0.5)
