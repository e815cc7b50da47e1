"""Tests for liveify.evaluate: metric values on constructed signals and the report end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

from liveify.evaluate import (
    METRICS,
    TimeWarp,
    compare,
    log_mel_l1_db,
    loudness_difference_lu,
    multi_resolution_stft_distance,
    spectral_shape_difference_hz,
)
from liveify.mel import MelConfig, mel_power

SAMPLE_RATE = 44100


def band_noise(seconds: float, *, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """Stereo noise with a gentle spectral tilt and a slow amplitude swell: energy in every band."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    noise = rng.standard_normal((2, n))
    b, a = signal.butter(1, 4000, fs=SAMPLE_RATE)
    tilted = 0.5 * noise + signal.lfilter(b, a, noise, axis=1)
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * np.arange(n) / SAMPLE_RATE)
    return (level * tilted * swell).astype(np.float32)


def test_identical_signals_score_zero_on_every_metric():
    audio = band_noise(3.0)
    metrics = compare(audio, audio.copy(), SAMPLE_RATE)
    assert set(metrics) == set(METRICS)
    for name, value in metrics.items():
        assert value == pytest.approx(0.0, abs=1e-6), name


def test_gain_of_6_db_reads_6_db_log_mel_and_6_lu_loudness():
    reference = band_noise(3.0)
    louder = reference * np.float32(10 ** (6 / 20))
    config = MelConfig()
    l1_db = log_mel_l1_db(mel_power(reference[0], config), mel_power(louder[0], config))
    assert l1_db == pytest.approx(6.0, abs=0.01)
    assert loudness_difference_lu(reference, louder, SAMPLE_RATE) == pytest.approx(6.0, abs=0.02)
    assert loudness_difference_lu(louder, reference, SAMPLE_RATE) == pytest.approx(-6.0, abs=0.02)
    # Without loudness matching every metric that sees level sees it; with matching only the
    # loudness difference does (a gain changes neither centroid nor bandwidth).
    raw = compare(reference, louder, SAMPLE_RATE, match_loudness=False)
    matched = compare(reference, louder, SAMPLE_RATE)
    assert raw["log_mel_l1_db"] == pytest.approx(6.0, abs=0.05)
    assert raw["mrstft"] > 0.5
    assert matched["loudness_diff_lu"] == pytest.approx(6.0, abs=0.02)
    assert matched["log_mel_l1_db"] == pytest.approx(0.0, abs=0.05)
    assert matched["mrstft"] < 0.01
    assert abs(matched["centroid_diff_hz"]) < 1.0


def test_low_pass_lowers_centroid_and_bandwidth():
    reference = band_noise(3.0)
    sos = signal.butter(4, 1500, fs=SAMPLE_RATE, output="sos")
    muffled = signal.sosfilt(sos, reference, axis=1).astype(np.float32)
    centroid_hz, bandwidth_hz = spectral_shape_difference_hz(reference, muffled, SAMPLE_RATE)
    assert centroid_hz < -1000.0
    assert bandwidth_hz < -500.0
    # ... and every distance grows with a stronger low-pass
    milder = signal.sosfilt(
        signal.butter(4, 6000, fs=SAMPLE_RATE, output="sos"), reference, axis=1
    ).astype(np.float32)
    assert multi_resolution_stft_distance(reference, muffled, SAMPLE_RATE) > (
        multi_resolution_stft_distance(reference, milder, SAMPLE_RATE)
    )


def test_time_warp_lines_up_a_delayed_reference():
    """A live take that starts ~1.5 s late (crowd noise first) matches once the warp says so."""
    studio = band_noise(4.0, seed=1)
    rng = np.random.default_rng(5)
    # 65 x 1024 samples: a whole number of frames for every STFT hop, so no interpolation blurs
    delay = 65 * 1024
    intro = (0.02 * rng.standard_normal((2, delay))).astype(np.float32)
    live = np.concatenate([intro, studio, intro], axis=1)
    delay_s = delay / SAMPLE_RATE
    warp = TimeWarp(np.array([0.0, 4.0]), np.array([delay_s, 4.0 + delay_s]))
    aligned = compare(live, studio, SAMPLE_RATE, time_warp=warp)
    unaligned = compare(live, studio, SAMPLE_RATE)
    assert aligned["log_mel_l1_db"] < 0.1
    assert aligned["mrstft"] < 0.02
    assert abs(aligned["loudness_diff_lu"]) < 0.05  # only the aligned stretch of live is measured
    assert unaligned["log_mel_l1_db"] > 5 * aligned["log_mel_l1_db"]


def test_time_warp_from_live_frames_maps_frames_to_seconds():
    config = MelConfig()
    warp = TimeWarp.from_live_frames(np.array([10.0, 11.0, 12.5]), config)
    frame_s = config.frame_duration_s
    assert warp(frame_s) == pytest.approx(11.0 * frame_s)
    assert warp(1.5 * frame_s) == pytest.approx(11.75 * frame_s)


# --- end to end ----------------------------------------------------------------------------------

TINY_MEL = MelConfig(n_mels=32, segment_duration=0.36, context_length=4)  # 64-frame windows


@pytest.fixture(scope="module")
def demo_pairs(tmp_path_factory):
    from liveify.demo import make_demo_data

    root = tmp_path_factory.mktemp("demo")
    make_demo_data(root, songs=2, duration_s=6.0, seed=3)
    return root


@pytest.fixture(scope="module")
def tiny_onnx_trained_on_first_song(tmp_path_factory, demo_pairs):
    """A tiny random ViT-GRU whose metadata says it was trained on the first demo song."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from liveify.export import export_onnx
    from liveify.model import LiveifyModel, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig(
        embed_dim=32, num_heads=2, num_transformer_layers=1, n_mels=32, context_frames=64
    )
    first_song = sorted((demo_pairs / "studio").iterdir())[0].stem
    path = tmp_path_factory.mktemp("models") / "tiny.onnx"
    export_onnx(
        LiveifyModel(config),
        path,
        mel_config=TINY_MEL,
        training_info={"train_songs": [first_song], "val_songs": []},
    )
    return path


@pytest.mark.slow
def test_report_end_to_end_on_demo_data(tmp_path, demo_pairs, tiny_onnx_trained_on_first_song):
    from matplotlib import image

    from liveify.evaluate import evaluate

    output = tmp_path / "report"
    report = evaluate(
        demo_pairs / "studio",
        demo_pairs / "live",
        output,
        model_path=tiny_onnx_trained_on_first_song,
        preset="stadium",
        progress=False,
        device="cpu",
    )
    written = json.loads((output / "report.json").read_text())
    assert written["rows"] == ["identity", "dsp", "model", "model+preset"]
    assert written["model_provider"] == "CPUExecutionProvider"
    assert {"songs", "summary", "metrics", "rejected", "figures", "model", "preset"} <= set(written)
    assert len(written["songs"]) == 2
    assert [song["in_training"] for song in written["songs"]] == [True, False]
    for song in written["songs"]:
        assert set(song["rows"]) == set(written["rows"])
        for row in song["rows"].values():
            assert set(row) == set(METRICS)
            assert all(value is not None and np.isfinite(value) for value in row.values())
        # The studio recording is not the live one: identity must be measurably off.
        assert song["rows"]["identity"]["log_mel_l1_db"] > 1.0
    held_out = written["summary"]["held_out"]
    assert held_out["songs"] == [written["songs"][1]["song"]]
    assert held_out["rows"]["dsp"]["mrstft"] == pytest.approx(
        written["songs"][1]["rows"]["dsp"]["mrstft"], abs=1e-4
    )
    assert report["summary"] == written["summary"]

    markdown = (output / "report.md").read_text()
    for label in ("identity (studio as is)", "DSP-only preset", "model only", "model + preset"):
        # one table line per row: held-out mean, training mean, all-songs mean, 2 songs
        assert sum(line.startswith(f"| {label} |") for line in markdown.splitlines()) == 5
    assert "Mean over held-out songs (n=1)" in markdown

    assert len(written["figures"]) == 3
    for figure in written["figures"]:
        pixels = image.imread(output / figure)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 300
        assert pixels.std() > 0.01  # not a blank canvas


def test_report_without_model_has_baseline_rows_only(tmp_path, demo_pairs):
    from liveify.evaluate import evaluate

    report = evaluate(
        demo_pairs / "studio",
        demo_pairs / "live",
        tmp_path / "report",
        preset="stadium",
        use_model=False,
        figures=False,
        progress=False,
    )
    assert report["rows"] == ["identity", "dsp"]
    assert all(song["in_training"] is None for song in report["songs"])
    assert report["summary"]["held_out"]["songs"] == []
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "no held-out mean" in markdown
    assert not (tmp_path / "report" / "figures").exists()
