"""Tests for the LiveModel ONNX Runtime stage: alignment, streaming, memory, errors, no torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from liveify.errors import DeviceError, ModelFileError, ParameterError
from liveify.mel import MelConfig
from liveify.model_file import encode_metadata
from liveify.plugins.model_stage import LiveModel, MaskSettings

TINY_MEL = MelConfig(n_mels=32, segment_duration=0.36, context_length=4)  # 64-frame windows


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """A tiny random ViT-GRU exported by the real exporter (torch runs here, not in the stage)."""
    torch = pytest.importorskip("torch")
    from liveify.export import export_onnx
    from liveify.model import LiveifyModel, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig(
        embed_dim=32, num_heads=2, num_transformer_layers=1, n_mels=32, context_frames=64
    )
    path = tmp_path_factory.mktemp("models") / "tiny.onnx"
    export_onnx(LiveifyModel(config), path, mel_config=TINY_MEL)
    return path


def write_identity_onnx(path, mel_config=TINY_MEL, frames=64, metadata=True, reconstruction=None):
    """An ONNX graph whose output is its input: the live mel equals the studio mel."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    shape = ["batch", 1, mel_config.n_mels, frames]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["mel"], ["live_mel"])],
        "identity",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("live_mel", TensorProto.FLOAT, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        values = {
            "model_config": {
                "n_mels": mel_config.n_mels,
                "context_frames": frames,
                "embed_dim": 0,
                "num_heads": 0,
                "num_transformer_layers": 0,
                "gru_layers": 0,
                "patch_size": 16,
            },
            "mel_config": mel_config.to_dict(),
            "input_name": "mel",
            "output_name": "live_mel",
            "reconstruction": reconstruction,
        }
        for key, value in encode_metadata(values).items():
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def identity_onnx(tmp_path_factory):
    return write_identity_onnx(tmp_path_factory.mktemp("models") / "identity.onnx")


def music(sample_rate, seconds, channels=2, seed=0):
    """Two detuned tones with a slow tremolo and a little noise, different per channel."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(seconds * sample_rate)) / sample_rate
    rows = []
    for channel in range(channels):
        tone = np.sin(2 * np.pi * (220 + 55 * channel) * time_s + channel)
        tremolo = 1 + 0.5 * np.sin(2 * np.pi * 0.7 * time_s)
        rows.append(0.08 * tone * tremolo + 0.01 * rng.standard_normal(len(time_s)))
    return np.asarray(rows, dtype=np.float32)


def error_db(actual, expected):
    return 10 * np.log10(np.sum((actual - expected) ** 2) / np.sum(expected**2))


@pytest.mark.parametrize(
    ("sample_rate", "channels"), [(44100, 2), (48000, 2), (22050, 1), (11025, 3)]
)
def test_identity_model_gives_back_the_input_at_any_rate(identity_onnx, sample_rate, channels):
    """Analysis, windows, overlap-add, reconstruction and block crossfades all line up."""
    audio = music(sample_rate, 5.0, channels)
    output = LiveModel(identity_onnx)(audio, sample_rate)
    assert output.shape == audio.shape and output.dtype == np.float32
    assert error_db(output, audio) < -60


@pytest.mark.parametrize("reconstruction", ["mask", "griffinlim"])
def test_streaming_equals_whole_call_shifted_by_latency(tiny_onnx, reconstruction):
    sample_rate = 48000  # 1114.56 samples per mel frame: exercises the rounding of the grid
    audio = music(sample_rate, 7.0)
    stage = LiveModel(tiny_onnx, reconstruction=reconstruction)
    whole = stage(audio, sample_rate)
    latency = stage.tail_samples(sample_rate)
    assert latency == stage.latency_samples_at(sample_rate) == stage.latency_samples

    sizes = [1, 4410, 7, 96000, 1234, 33333]
    pieces, position, index = [], 0, 0
    stage.reset()
    while position < audio.shape[1]:
        size = sizes[index % len(sizes)]
        pieces.append(stage(audio[:, position : position + size], sample_rate, reset=False))
        position, index = position + size, index + 1
        assert pieces[-1].shape[1] == min(size, audio.shape[1] - position + size)
    pieces.append(stage(np.zeros((2, latency), np.float32), sample_rate, reset=False))
    streamed = np.concatenate(pieces, axis=1)
    assert np.all(streamed[:, :latency] == 0)
    np.testing.assert_allclose(streamed[:, latency:], whole, atol=1e-4)
    assert np.abs(whole).max() > 0.01


def test_model_changes_the_sound_and_batching_does_not(tiny_onnx, identity_onnx):
    sample_rate = 22050
    audio = music(sample_rate, 6.0)
    batched = LiveModel(tiny_onnx, batch_size=4)(audio, sample_rate)
    single = LiveModel(tiny_onnx, batch_size=1)(audio, sample_rate)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert error_db(batched, audio) > -20  # a random model is far from the identity
    free = MaskSettings(max_gain_db=30.0, edge_gain_db=30.0, smoothing_s=0.05)
    dense = LiveModel(tiny_onnx, mask_settings=free)(audio, sample_rate)
    sparse = LiveModel(tiny_onnx, overlap=0.25, mask_settings=free)(audio, sample_rate)
    assert np.abs(sparse - dense).max() > 1e-3


def test_strength_zero_is_the_input_exactly_whole_and_streamed(tiny_onnx):
    sample_rate = 44100
    audio = music(sample_rate, 3.0)
    stage = LiveModel(tiny_onnx, strength=0.0)
    np.testing.assert_array_equal(stage(audio, sample_rate), audio)
    latency = stage.latency_samples_at(sample_rate)
    stage.reset()
    streamed = np.concatenate(
        [stage(audio[:, :1000], sample_rate, reset=False), stage(audio[:, 1000:], sample_rate, reset=False),
         stage(np.zeros((2, latency), np.float32), sample_rate, reset=False)], axis=1,
    )  # fmt: skip
    np.testing.assert_array_equal(streamed[:, latency:], audio)
    stage.strength = 0.5
    half = stage(audio, sample_rate)
    full = LiveModel(tiny_onnx)(audio, sample_rate)
    assert -60 < error_db(half, audio) < error_db(full, audio)


def test_gain_bound_comes_from_the_model_file_and_the_tighter_wins(tmp_path):
    declared = write_identity_onnx(tmp_path / "declared.onnx", reconstruction={"max_gain_db": 3.0})
    assert LiveModel(declared).mask.max_gain_db == 3.0
    assert LiveModel(declared, max_gain_db=9.0).mask.max_gain_db == 3.0
    assert LiveModel(declared, max_gain_db=2.0).mask.max_gain_db == 2.0
    plain = write_identity_onnx(tmp_path / "plain.onnx")
    assert LiveModel(plain).mask == MaskSettings()
    assert LiveModel(plain, max_gain_db=9.0).mask.max_gain_db == 9.0
    broken = write_identity_onnx(tmp_path / "broken.onnx", reconstruction={"max_gain_db": -1})
    with pytest.raises(ModelFileError, match="reconstruction"):
        LiveModel(broken)


def test_device_choice_never_runs_silently_on_the_wrong_device(tiny_onnx):
    import onnxruntime

    has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    cpu = LiveModel(tiny_onnx, device="cpu")
    assert cpu.provider == "CPUExecutionProvider" and cpu.device_notice is None
    auto = LiveModel(tiny_onnx, device="auto")
    if has_cuda:
        assert auto.provider == "CUDAExecutionProvider" or "CPU" in auto.device_notice
        assert LiveModel(tiny_onnx, device="cuda:0").provider == "CUDAExecutionProvider"
    else:
        assert auto.provider == "CPUExecutionProvider"
        assert "running on the CPU" in auto.device_notice and "\n" not in auto.device_notice
        for device in ("cuda", "cuda:1"):
            with pytest.raises(DeviceError, match="no CUDA provider"):
                LiveModel(tiny_onnx, device=device)
    for bad in ("gpu", "cuda:x", "cpu:0"):
        with pytest.raises(ParameterError, match="device must be"):
            LiveModel(tiny_onnx, device=bad)
    listed = LiveModel(tiny_onnx, providers=["CPUExecutionProvider"])
    assert listed.provider == "CPUExecutionProvider"


def test_mix_blends_dry_and_wet(tiny_onnx):
    sample_rate = 16000
    audio = music(sample_rate, 4.0)
    wet = LiveModel(tiny_onnx, mix=1.0)(audio, sample_rate)
    dry = LiveModel(tiny_onnx, mix=0.0)(audio, sample_rate)
    half = LiveModel(tiny_onnx, mix=0.5)(audio, sample_rate)
    np.testing.assert_array_equal(dry, audio)
    np.testing.assert_allclose(half, 0.5 * wet + 0.5 * audio, atol=1e-6)


def test_short_input_and_griffinlim(tiny_onnx):
    sample_rate = 44100
    audio = music(sample_rate, 0.3)  # shorter than one 1.5 s context window
    output = LiveModel(tiny_onnx, reconstruction="griffinlim")(audio, sample_rate)
    assert output.shape == audio.shape and np.all(np.isfinite(output))
    assert np.abs(output).max() > 1e-4
    one_sample = LiveModel(tiny_onnx)(audio[:, :1], sample_rate)
    assert one_sample.shape == (2, 1) and np.all(np.isfinite(one_sample))


def test_memory_does_not_grow_with_track_length(tiny_onnx):
    sample_rate = 16000
    stage = LiveModel(tiny_onnx)
    stage.reset()
    chunk = music(sample_rate, 0.5, channels=1)
    held = []
    for seconds in range(1, 61):
        stage(chunk * (1 + 0.01 * seconds), sample_rate, reset=False)
        stage(chunk, sample_rate, reset=False)
        if seconds in (30, 60):
            held.append(stage._stream.buffered_values())
    assert held[1] <= held[0]  # a minute holds no more than 30 s (the latency is ~10 s here)


def test_stream_refuses_a_new_rate_or_layout_without_reset(tiny_onnx):
    stage = LiveModel(tiny_onnx)
    stage(music(44100, 0.2), 44100, reset=False)
    with pytest.raises(ParameterError, match="reset"):
        stage(music(48000, 0.2), 48000, reset=False)
    with pytest.raises(ParameterError, match="reset"):
        stage(music(44100, 0.2, channels=1), 44100, reset=False)
    stage.reset()
    assert stage(music(48000, 0.2), 48000, reset=False).shape == (2, 9600)


def test_bad_audio_and_parameters_are_parameter_errors(tiny_onnx):
    stage = LiveModel(tiny_onnx)
    audio = music(44100, 0.2)
    audio[0, 10] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        stage(audio, 44100)
    for kwargs in (
        {"batch_size": 0},
        {"overlap": 1.0},
        {"mix": 1.5},
        {"reconstruction": "vocoder"},
        {"device": "tpu"},
        {"strength": 1.5},
        {"providers": ["NoSuchExecutionProvider"]},
    ):
        with pytest.raises(ParameterError):
            LiveModel(tiny_onnx, **kwargs)


def test_unusable_model_files_are_model_file_errors(tmp_path):
    with pytest.raises(ModelFileError, match=r"not found.*liveify export"):
        LiveModel(tmp_path / "missing.onnx")
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    with pytest.raises(ModelFileError, match=r"not a readable ONNX model.*liveify export"):
        LiveModel(text)
    bare = write_identity_onnx(tmp_path / "bare.onnx", metadata=False)
    with pytest.raises(ModelFileError, match=r"lacks Liveify metadata.*liveify export"):
        LiveModel(bare)


def test_repr_names_file_config_provider_and_latency(tiny_onnx):
    stage = LiveModel(tiny_onnx)
    stage(music(48000, 0.1), 48000)
    text = repr(stage)
    for part in (
        "tiny.onnx",
        "32d 2h 1+GRU(2, bi)+0",
        "CPUExecutionProvider",
        "48000 Hz",
        "strength 1",
    ):
        assert part in text
    assert f"latency {stage.latency_samples_at(48000)} samples" in text


def test_render_path_never_imports_torch_librosa_or_numba(tiny_onnx):
    """The stage's analysis and reconstruction are numpy/scipy: no librosa (and so no numba JIT
    and cache) and no torch, on the bundled model and a tiny one."""
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import liveify.plugins.model_stage as model_stage
        from liveify.render import BUNDLED_MODEL
        for path in (BUNDLED_MODEL, {str(tiny_onnx)!r}):
            stage = model_stage.LiveModel(path)
            out = stage(np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32) * 0.1, 44100)
            assert out.shape == (2, 44100) and np.abs(out).max() > 0.01
        from liveify.model_file import read_metadata
        assert read_metadata({str(tiny_onnx)!r})["mel_config"]["n_mels"] == 32
        print(sorted(name for name in ("torch", "librosa", "numba") if name in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_pickling_rebuilds_the_stage_from_its_path_and_parameters(tiny_onnx):
    import pickle

    from liveify import Chain, VenueReverb

    stage = LiveModel(tiny_onnx, device="cpu", strength=0.6, max_gain_db=4.0, seed=3)
    copy = pickle.loads(pickle.dumps(stage))
    assert repr(copy) == repr(stage) and copy.provider == "CPUExecutionProvider"
    audio = music(22050, 2.0)
    np.testing.assert_array_equal(copy(audio, 22050), stage(audio, 22050))
    chain = pickle.loads(pickle.dumps(Chain([stage, VenueReverb(rt60_s=0.8)])))
    np.testing.assert_array_equal(
        chain(audio, 22050), Chain([stage, VenueReverb(rt60_s=0.8)])(audio, 22050)
    )


def test_the_model_threads_stay_within_the_budget_a_parent_set(tiny_onnx, monkeypatch):
    from liveify.cores import physical_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    unlimited = physical_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as Ray sets it for a one-CPU task
    assert physical_cores() == 1 <= unlimited
    stage = LiveModel(tiny_onnx, device="cpu")
    assert stage.session.get_session_options().intra_op_num_threads == 1
