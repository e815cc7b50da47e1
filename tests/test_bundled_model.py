"""The bundled demo model: it loads, runs as a stage, is the default render's model, and `liveify demo`."""

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from liveify.cli import main
from liveify.mel import MelConfig, mel_power
from liveify.model_file import read_metadata
from liveify.plugins.model_stage import LiveModel
from liveify.render import BUNDLED_MODEL
from tests.helpers import tone_mix


def test_bundled_model_is_a_small_documented_onnx_file():
    assert BUNDLED_MODEL.exists()
    assert BUNDLED_MODEL.stat().st_size < 25 * 1024 * 1024
    assert (BUNDLED_MODEL.parent / "MODEL_CARD.md").exists()
    metadata = read_metadata(BUNDLED_MODEL)
    assert metadata["model_config"]["embed_dim"] == 96
    assert len(metadata["training_info"]["train_songs"]) == 107
    assert metadata["reconstruction"] == {"max_gain_db": 3.0, "residual_db": -6.0}


def test_bundled_model_runs_as_a_stage_and_changes_the_sound_within_its_bound():
    from dataclasses import replace

    studio = tone_mix(4.0, 44100)
    stage = LiveModel(BUNDLED_MODEL)
    live = stage(studio, 44100)
    assert live.shape == studio.shape and np.isfinite(live).all()
    gains_only = LiveModel(BUNDLED_MODEL, mask_settings=replace(stage.mask, residual_db=None))
    shaped = gains_only(studio, 44100)
    config = MelConfig()

    def band_change_db(output):
        before, after = mel_power(studio[:, ::2], config), mel_power(output[:, ::2], config)
        return 10 * np.log10(after.mean(axis=1) / before.mean(axis=1))

    assert np.abs(band_change_db(shaped)).max() > 0.5  # it does something to the sound
    assert np.abs(band_change_db(shaped)).max() < 3.0 + 0.2  # within its declared 3 dB bound
    # Its residual noise fills what the bound holds back, capped under each band's own level
    # (it spreads half-way into the neighbouring bands of this sparse chord).
    assert 0 < np.max(band_change_db(live) - band_change_db(shaped)) < 3.0


def test_default_render_uses_the_bundled_model(tmp_path, write_track):
    album = tmp_path / "album"
    write_track("1 Song.wav", seconds=2.0, folder=album)
    result = CliRunner().invoke(
        main, ["render", str(album), "-o", str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["model"] == str(BUNDLED_MODEL)
    no_model = CliRunner().invoke(
        main, ["render", str(album), "-o", str(tmp_path / "dsp"), "--no-progress", "--no-model"]
    )
    assert no_model.exit_code == 0
    assert json.loads((tmp_path / "dsp" / "report.json").read_text())["model"] is None
    with_model, _ = sf.read(tmp_path / "out" / "1 Song.wav")
    without_model, _ = sf.read(tmp_path / "dsp" / "1 Song.wav")
    assert with_model.shape == without_model.shape
    assert np.abs(with_model - without_model).max() > 1e-3


@pytest.mark.slow
def test_liveify_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        main, ["demo", str(out), "--songs", "2", "--duration", "6", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    studio = sorted((out / "studio").glob("*.wav"))
    rendered = sorted((out / "studio-live").glob("*.wav"))
    assert len(studio) == 2 and [p.name for p in rendered] == [p.name for p in studio]
    assert len(list((out / "reference-live").glob("*.wav"))) == 2
    report = json.loads((out / "studio-live" / "report.json").read_text())
    assert report["model"] == str(BUNDLED_MODEL)
    assert all(track["status"] == "ok" for track in report["tracks"])
    assert "Liveify's render" in result.output and "listen" in result.output


def test_model_render_at_48_khz_keeps_the_music_on_its_timeline(tmp_path, write_track):
    from scipy.signal import correlate

    from liveify.presets import load_preset

    album = tmp_path / "album"
    source = write_track("1 Song.wav", seconds=3.0, sample_rate=48000, folder=album)
    result = CliRunner().invoke(
        main, ["render", str(album), "-o", str(tmp_path / "out"), "--no-progress", "-p", "club",
               "--model", str(BUNDLED_MODEL)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    preset = load_preset("club")
    rendered, rate = sf.read(tmp_path / "out" / "1 Song.wav")
    studio, _ = sf.read(source)
    lead_in = round(preset.lead_in_s * rate)
    assert rate == 48000
    assert len(rendered) == lead_in + len(studio) + round(preset.tail_s * rate)
    music = rendered[lead_in : lead_in + len(studio), 0]

    def envelope(signal, frame=240):  # 5 ms level frames: the plucks every 0.5 s, not the
        # chord's 18 ms period, which makes sample-level correlation ambiguous
        frames = np.abs(signal[: len(signal) // frame * frame]).reshape(-1, frame).mean(axis=1)
        return frames - frames.mean()

    lags = np.arange(-len(studio) // 240 + 1, len(studio) // 240)
    lag = lags[np.argmax(correlate(envelope(music), envelope(studio[:, 0]), mode="full"))]
    assert abs(lag) <= 2  # within 10 ms: the model's 45 s delay is compensated at 48 kHz too


def test_strength_zero_renders_exactly_like_no_model_and_presets_carry_it(tmp_path, write_track):
    """--model-strength 0 leaves the song untouched, so the render equals the DSP-only one."""
    from liveify.errors import PresetError
    from liveify.presets import Preset

    album = tmp_path / "album"
    write_track("1 Song.wav", seconds=2.0, folder=album)
    common = [str(album), "--no-progress", "-p", "club"]
    zero = CliRunner().invoke(
        main, ["render", *common, "-o", str(tmp_path / "zero"), "--model-strength", "0"]
    )
    assert zero.exit_code == 0, zero.output
    dsp = CliRunner().invoke(main, ["render", *common, "-o", str(tmp_path / "dsp"), "--no-model"])
    assert dsp.exit_code == 0, dsp.output
    assert (tmp_path / "zero" / "1 Song.wav").read_bytes() == (
        tmp_path / "dsp" / "1 Song.wav"
    ).read_bytes()
    preset = Preset.from_toml("model_strength = 0.25\nmodel_max_gain_db = 3.0\n", source="p.toml")
    assert (preset.model_strength, preset.model_max_gain_db) == (0.25, 3.0)
    assert "model_strength = 0.25" in preset.to_toml()
    with pytest.raises(PresetError, match=r"p.toml: model_strength = 1.5 is out of range"):
        Preset.from_toml("model_strength = 1.5\n", source="p.toml")
