"""`liveify train` speaks the original specification's interface: its option spellings, its
`python -m liveify.train` command line, the total layer count, segment settings, development
mode; and each run gets its own folder with `best.ckpt` naming the newest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lightning.pytorch")

from click.testing import CliRunner  # noqa: E402

from liveify.cli import main, train_command  # noqa: E402
from liveify.errors import ParameterError  # noqa: E402
from liveify.train.options import configs_from_values  # noqa: E402

#: The spec's command line, as documented, with sizes a test can train in seconds.
SPEC_COMMAND = [
    "--batch_size", "4", "--segment_duration", "0.5", "--context_length", "4",
    "--max_epochs", "1", "--learning_rate", "1e-6",
]  # fmt: skip
TINY_SPEC_SIZES = [
    "--embed_dim", "32", "--num_heads", "2", "--num_transformer_layers", "2", "--gru_layers", "1",
    "--patch_size", "8", "--n_mels", "32", "--num_workers", "0", "--precision", "32",
]  # fmt: skip


def parsed(*arguments: str):
    """The configs `liveify train ARGUMENTS` would train with (parsed, not run)."""
    context = train_command.make_context("train", list(arguments))
    return configs_from_values(
        {
            name: value
            for name, value in context.params.items()
            if name not in ("studio_dir", "live_dir", "studio_dir_option", "live_dir_option")
        }
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from liveify.demo import make_demo_data

    root = tmp_path_factory.mktemp("demo")
    make_demo_data(root, songs=3, duration_s=6.0, seed=2)
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_spec_spellings_parse_to_the_same_configs_as_liveify_spellings():
    spec = parsed(
        "--embed_dim", "384", "--num_transformer_layers", "6", "--segment_duration", "0.25",
        "--context_length", "32", "--no_augmentation", "--aug_noise_std", "0.02",
        "--batch_size", "2", "--accumulate_grad_batches", "4", "--logger", "wandb",
        "--development_mode", "--train_split", "0.75",
    )  # fmt: skip
    ours = parsed(
        "--embed-dim", "384", "--num-transformer-layers", "6", "--segment-duration", "0.25",
        "--context-length", "32", "--no-augmentation", "--aug-noise-std", "0.02",
        "--batch-size", "2", "--accumulate-grad-batches", "4", "--logger", "wandb",
        "--development-mode", "--train-split", "0.75",
    )  # fmt: skip
    assert spec == ours
    model_config, mel_config, options = spec
    assert (model_config.layers_before_gru, model_config.layers_after_gru) == (3, 3)
    # 0.25 s is 11 frames at hop 512: 11 x 32 = 352 frames
    assert mel_config.context_frames == model_config.context_frames == 352
    assert not options.augment.enabled and options.augment.noise_std == 0.02
    assert options.development_mode and options.logger == "wandb"
    default_model, default_mel, _ = parsed()
    assert default_mel.context_frames == default_model.context_frames == 1408  # 0.5 s x 64
    assert (default_model.layers_before_gru, default_model.layers_after_gru) == (4, 4)


def test_help_mentions_the_spec_spellings_once_without_listing_them():
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    assert "original specification's spelling" in help_text
    assert "--batch-size" in help_text and "--batch_size" not in help_text.split("Options:")[1]
    assert "--studio-dir" in help_text and "--segment-duration" in help_text
    assert "TOTAL" in help_text  # --num-transformer-layers


def test_bad_segment_settings_and_folders_are_one_line_errors(demo):
    with pytest.raises(ParameterError, match=r"22 x 5 = 110 frames .* --patch-size 16"):
        parsed("--segment_duration", "0.5", "--context_length", "5")
    runner = CliRunner()
    both = runner.invoke(
        main, ["train", str(demo / "studio"), str(demo / "live"), "--studio_dir", str(demo)]
    )
    assert both.exit_code == 2 and "--studio-dir" in both.output and "differ" in both.output
    missing = runner.invoke(main, ["train", "--studio_dir", str(demo / "studio")])
    assert missing.exit_code == 2 and "--live-dir" in missing.output


def test_resume_with_other_segment_settings_is_a_clear_error(tmp_path):
    from liveify.checkpoint import save_checkpoint
    from liveify.mel import MelConfig
    from liveify.model import LiveifyModel, ModelConfig
    from liveify.train import resumed_configs

    mel = MelConfig(n_mels=32, context_length=4)
    config = ModelConfig(embed_dim=32, num_heads=2, n_mels=32, context_frames=88, patch_size=8)
    path = save_checkpoint(tmp_path / "run.pt", LiveifyModel(config), extra={"mel_config": mel})
    assert resumed_configs(path, {"embed_dim": 32}, {"context_length": 4}) == (config, mel)
    with pytest.raises(ParameterError, match=r"segment_duration 0.25 \(the checkpoint's: 0.5\)"):
        resumed_configs(path, {}, {"segment_duration": 0.25})


def test_spec_command_line_through_liveify_train_development_mode_and_run_folders(
    demo, cache_dir, tmp_path, monkeypatch
):
    """Development mode trains on exactly the first pair; every run writes version_N and
    best.ckpt names the newest; a run that will take hours on a CPU says so."""
    from liveify.checkpoint import load_checkpoint

    monkeypatch.setattr("liveify.train.reporting.SLOW_CPU_RUN_S", 0.0)
    monkeypatch.chdir(tmp_path)  # the spec's default ./checkpoints and ./logs
    runner = CliRunner()
    arguments = [
        "train", "--studio_dir", str(demo / "studio"), "--live_dir", str(demo / "live"),
        *SPEC_COMMAND, *TINY_SPEC_SIZES, "--development_mode", "--cache_dir", str(cache_dir),
    ]  # fmt: skip
    first = runner.invoke(main, arguments)
    assert first.exit_code == 0, first.output
    assert "1 song pairs ready" in first.stderr and "development mode" in first.stderr
    assert "time per step" in first.stderr and "'Training on a CPU' in the README" in first.stderr
    model, config, info = load_checkpoint(Path("checkpoints/best.ckpt"))
    first_pair = sorted(p.stem for p in (demo / "studio").glob("*.wav"))[0]
    training = info["training_info"]
    assert training["train_songs"] == training["val_songs"] == [first_pair]
    assert (len(model.encoder), len(model.decoder)) == (1, 1) and config.context_frames == 88

    second = runner.invoke(main, arguments)
    assert second.exit_code == 0, second.output
    assert sorted(path.name for path in Path("checkpoints").iterdir()) == [
        "best.ckpt", "last.ckpt", "version_0", "version_1",
    ]  # fmt: skip
    assert (
        Path("checkpoints/best.ckpt").resolve() == Path("checkpoints/version_1/best.ckpt").resolve()
    )
    assert sorted(path.name for path in Path("logs/liveify").iterdir()) == [
        "version_0",
        "version_1",
    ]
    assert "checkpoints/version_1" in second.stdout


@pytest.mark.slow
def test_python_m_liveify_train_runs_the_spec_command_line(demo, cache_dir, tmp_path):
    try:
        import wandb  # noqa: F401

        logger = "wandb"
    except ImportError:
        logger = "tensorboard"
        # the spec's own --logger wandb is understood, and asks for the extra it needs
        missing = subprocess.run(
            [sys.executable, "-m", "liveify.train", "--studio_dir", str(demo / "studio"),
             "--live_dir", str(demo / "live"), "--logger", "wandb"],
            capture_output=True, text=True, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert missing.returncode == 1, missing.stderr
        assert "pip install 'liveify[wandb]'" in missing.stderr
        assert len(missing.stderr.strip().splitlines()) == 1
    environment = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).parents[1]),
        "WANDB_MODE": "offline",
    }
    result = subprocess.run(
        [sys.executable, "-m", "liveify.train", "--studio_dir", str(demo / "studio"),
         "--live_dir", str(demo / "live"), *SPEC_COMMAND, "--logger", logger,
         *TINY_SPEC_SIZES, "--cache_dir", str(cache_dir)],
        capture_output=True, text=True, cwd=tmp_path, env=environment, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("training finished")
    assert "Tip" not in result.stderr and "LeafSpec" not in result.stderr
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
