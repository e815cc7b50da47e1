import itertools

import numpy as np
import pedalboard
import pytest

from liveify.errors import LiveifyError, StageError
from liveify.plugins.base import Stage
from liveify.plugins.chain import Chain
from tests.helpers import tone_mix


class RunningSum(Stage):
    """A stateful stage (cumulative sum per channel) to prove state carries across chunks."""

    def __init__(self):
        self.total = None

    def reset(self):
        self.total = None

    def process_block(self, audio, sample_rate):
        carried = 0 if self.total is None else self.total
        output = np.cumsum(audio, axis=1, dtype=np.float64) + carried
        self.total = output[:, -1:]
        return (output * 1e-3).astype(np.float32)


def test_chain_runs_native_plugins_and_stages_in_order():
    audio = tone_mix(1.0, 44100)
    gain = pedalboard.Gain(gain_db=-6.0)
    chain = Chain([gain, RunningSum(), pedalboard.Gain(gain_db=6.0)])
    expected = pedalboard.Gain(gain_db=6.0)(
        np.cumsum(gain(audio, 44100), axis=1).astype(np.float32) * 1e-3, 44100
    )
    np.testing.assert_allclose(chain(audio, 44100), expected, atol=1e-4)


def test_consecutive_native_plugins_run_as_one_pedalboard():
    chain = Chain(
        [pedalboard.Compressor(), pedalboard.HighpassFilter(), RunningSum(), pedalboard.Chorus()]
    )
    groups = chain._processing_groups()
    assert [type(group).__name__ for group in groups] == ["Pedalboard", "RunningSum", "Pedalboard"]
    assert len(groups[0]) == 2


def test_gains_and_distortions_run_as_one_numpy_pass_with_pedalboards_values():
    audio = 0.5 * tone_mix(1.0, 44100)
    plugins = [pedalboard.Gain(gain_db=4.0), pedalboard.Distortion(drive_db=3.0),
               pedalboard.Gain(gain_db=-7.5), pedalboard.HighpassFilter(60), pedalboard.Gain(-2)]  # fmt: skip
    chain = Chain(plugins)
    assert [type(group).__name__ for group in chain._processing_groups()] == [
        "_Pointwise", "Pedalboard", "_Pointwise"
    ]  # fmt: skip
    expected = pedalboard.Pedalboard(plugins)(audio, 44100)
    np.testing.assert_allclose(chain(audio, 44100), expected, atol=1e-6)


def test_chunked_processing_equals_one_call():
    audio = tone_mix(2.0, 44100)
    chain = Chain(
        [pedalboard.Compressor(threshold_db=-20), RunningSum(), pedalboard.LowpassFilter(3000)]
    )
    whole = chain(audio, 44100)
    cuts = [0, 1000, 1001, 30000, 50000, audio.shape[1]]
    chunks = [chain(audio[:, a:b], 44100, reset=(a == 0)) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, atol=1e-4)


def test_distortion_runs_as_numpy_tanh_with_pedalboards_values():
    audio = 0.8 * tone_mix(2.0, 44100)
    plugins = [pedalboard.HighpassFilter(40), pedalboard.Compressor(-20, 3),
               pedalboard.Distortion(drive_db=6), pedalboard.Limiter(-1)]  # fmt: skip
    expected = pedalboard.Pedalboard(plugins)(audio, 44100)
    # The preset's PA is a nested board: the Distortion inside is found and vectorised too.
    chain = Chain([pedalboard.Pedalboard(plugins), RunningSum()])
    groups = chain._processing_groups()
    assert [type(group).__name__ for group in groups] == [
        "Pedalboard", "_Pointwise", "Pedalboard", "RunningSum"
    ]  # fmt: skip
    head = Chain([pedalboard.Pedalboard(plugins)])
    np.testing.assert_allclose(head(audio, 44100), expected, atol=1e-6)
    cuts = [0, 777, 30000, audio.shape[1]]
    chunks = [head(audio[:, a:b], 44100, reset=(a == 0)) for a, b in itertools.pairwise(cuts)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), expected, atol=1e-6)


def test_changes_inside_a_nested_board_are_heard():
    audio = tone_mix(0.5, 44100)
    board = pedalboard.Pedalboard([pedalboard.Gain(gain_db=-6.0)])
    chain = Chain([board])
    quieter = chain(audio, 44100)
    board.append(pedalboard.Distortion(drive_db=10))
    board[0].gain_db = 0.0
    np.testing.assert_allclose(chain(audio, 44100), np.tanh(audio * 10**0.5), atol=1e-6)
    np.testing.assert_allclose(quieter, audio * 10 ** (-6 / 20), atol=1e-6)


def test_chain_is_list_like_and_nests():
    inner = Chain([pedalboard.Gain(gain_db=-6.0)])
    chain = Chain()
    chain.append(pedalboard.Gain(gain_db=-6.0))
    chain.insert(0, inner)
    assert len(chain) == 2 and chain.index(inner) == 0
    out = chain(np.ones((2, 100), np.float32), 44100)
    np.testing.assert_allclose(out, 10 ** (-12 / 20), rtol=1e-4)
    del chain[0]
    assert len(chain) == 1 and "1 plugin" in repr(chain)


def test_chain_rejects_plain_callables_with_a_fix():
    with pytest.raises(StageError, match=r"Stage subclass .*process_block\(audio, sample_rate\)"):
        Chain([lambda audio, sr: audio])
    with pytest.raises(TypeError, match="got function"):  # old `except TypeError` still catches it
        Chain().append(lambda audio, sr: audio)
    assert issubclass(StageError, LiveifyError)


def test_a_chain_pickles_by_rebuilding_its_native_plugins():
    import pickle

    from liveify.errors import ParameterError
    from liveify.plugins.pa import pa_colouring
    from liveify.plugins.venue import VenueReverb

    audio = tone_mix(1.0, 44100)
    chain = Chain([pa_colouring(drive_db=3.0), pedalboard.Chorus(rate_hz=2.0),
                   VenueReverb(rt60_s=1.2, seed=3), RunningSum()])  # fmt: skip
    copy = pickle.loads(pickle.dumps(chain))
    assert repr(copy).count("pedalboard.") == repr(chain).count("pedalboard.")
    np.testing.assert_array_equal(copy(audio, 44100), chain(audio, 44100))
    with pytest.raises(ParameterError, match=r"cannot pickle <pedalboard.Mix"):
        pickle.dumps(Chain([pedalboard.Mix([pedalboard.Gain()])]))
