"""Training: the tiny model learns, the schedule has its shape, the data split is by song and
augmentation stays out of validation, and `liveify train` runs end to end on CPU."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from torch.utils.data import DataLoader  # noqa: E402

from liveify.mel import MelConfig  # noqa: E402
from liveify.model import ModelConfig  # noqa: E402
from liveify.train import (  # noqa: E402
    LiveifyLightningModule,
    WarmupCosine,
    live_mel_loss,
    resolve_precision,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; two threads on a shared 2-core machine spin-wait
    (measured: the overfit test takes 2 s on one thread, 34 s on two under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY_MEL = MelConfig(n_mels=32, context_length=4)  # 22 frames x 4 = 88 frames = 11 patches of 8


def tiny_model_config(**overrides) -> ModelConfig:
    values = dict(
        embed_dim=32,
        num_heads=2,
        num_transformer_layers=2,
        gru_layers=1,
        dropout=0.0,
        attention_dropout=0.0,
        patch_size=8,
        n_mels=TINY_MEL.n_mels,
        context_frames=TINY_MEL.context_frames,
    )
    values.update(overrides)
    return ModelConfig(**values)


class RepeatedWindow(torch.utils.data.Dataset):
    """One studio/live window pair, served `length` times."""

    def __init__(self, studio: np.ndarray, live: np.ndarray, length: int):
        self.studio, self.live, self.length = (
            torch.from_numpy(studio),
            torch.from_numpy(live),
            length,
        )

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {"studio": self.studio, "live": self.live}


def test_tiny_model_overfits_one_window():
    from scipy.ndimage import uniform_filter1d

    rng = np.random.default_rng(0)
    studio = rng.uniform(-1.0, 0.5, (1, TINY_MEL.n_mels, TINY_MEL.context_frames))
    # "live": smeared in time (room), lifted floor (crowd), compressed: a learnable mapping
    live = np.clip(0.8 * uniform_filter1d(studio, 5, axis=2) + 0.15, -1.0, 1.0)
    studio, live = studio.astype(np.float32), live.astype(np.float32)
    batch_studio, batch_live = torch.from_numpy(studio)[None], torch.from_numpy(live)[None]

    torch.manual_seed(0)
    module = LiveifyLightningModule(
        tiny_model_config(), TINY_MEL, learning_rate=3e-3, total_steps=100
    )

    def evaluate() -> float:
        module.eval()
        with torch.no_grad():
            return live_mel_loss(module(batch_studio), batch_live)["loss"].item()

    initial = evaluate()
    module.train()
    trainer = pl.Trainer(
        max_steps=100,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(RepeatedWindow(studio, live, 100), batch_size=1))
    final = evaluate()
    assert initial > 0.1
    assert final < 0.3 * initial, (initial, final)


def test_warmup_cosine_shape():
    schedule = WarmupCosine(warmup_steps=10, total_steps=110, final_ratio=0.1)
    factors = np.array([schedule(step) for step in range(111)])
    assert factors[0] == pytest.approx(0.1)
    assert factors[9] == pytest.approx(1.0)
    assert np.all(np.diff(factors[:10]) > 0)  # rising during warm-up
    assert np.all(np.diff(factors[10:]) <= 1e-12)  # then never rising
    assert factors[60] == pytest.approx(0.55)  # half way down the cosine
    assert factors[110] == pytest.approx(0.1)


def test_loss_is_zero_for_a_perfect_prediction_and_grows_with_error():
    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.uniform(-1, 1, (2, 1, 32, 88)).astype(np.float32))
    perfect = live_mel_loss(target, target)
    assert perfect["loss"].item() == pytest.approx(0.0, abs=1e-6)
    small = live_mel_loss(target + 0.05, target)["loss"].item()
    large = live_mel_loss(target + 0.2, target)["loss"].item()
    assert 0 < small < large


def test_precision_fallbacks_on_cpu():
    assert resolve_precision("32", "cpu") == ("32-true", None)
    assert resolve_precision("bf16-mixed", "cpu") == ("bf16-mixed", None)
    flag, note = resolve_precision("16-mixed", "cpu")
    assert flag == "bf16-mixed" and "16-mixed" in note
    flag, note = resolve_precision("16", "cpu")
    assert flag == "bf16-mixed" and note


# --- data: split by song, augmentation only on training windows ----------------------------------


@pytest.fixture(scope="module")
def prepared_demo(tmp_path_factory):
    """Three aligned 6-second demo songs at the tiny mel settings (no cache)."""
    from liveify.data.dataset import prepare_pairs
    from liveify.demo import make_demo_data

    root = tmp_path_factory.mktemp("demo")
    make_demo_data(root, songs=3, duration_s=6.0, seed=3)
    return prepare_pairs(
        root / "studio",
        root / "live",
        mel_config=TINY_MEL,
        use_cache=False,
        progress=False,
    )


def test_split_is_by_song(prepared_demo):
    from liveify.train import LiveifyDataModule
    from liveify.windows import window_starts

    datamodule = LiveifyDataModule(
        mel_config=TINY_MEL, prepared=prepared_demo, train_split=0.67, seed=5
    )
    datamodule.setup("fit")
    all_songs = {song.studio_path.stem for song in prepared_demo.songs}
    train_songs, val_songs = set(datamodule.train_songs), set(datamodule.val_songs)
    assert train_songs and val_songs
    assert not train_songs & val_songs
    assert train_songs | val_songs == all_songs
    # every window of a training song is in the training set, and no window of another song
    train_windows = datamodule.train_dataset.windows
    assert {song.studio_path.stem for song in train_windows.songs} == train_songs
    expected = sum(
        len(window_starts(song.n_frames, TINY_MEL.context_frames, 0.5))
        for song in prepared_demo.songs
        if song.studio_path.stem in train_songs
    )
    assert len(datamodule.train_dataset) == expected
    assert {song.studio_path.stem for song in datamodule.val_dataset.windows.songs} == val_songs


class BatchRecorder(pl.Callback):
    def __init__(self):
        self.train, self.val = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_index):
        self.train.append(batch["studio"].clone())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_index, dataloader_idx=0):
        self.val.append(batch["studio"].clone())


def test_augmentation_only_reaches_training_batches(prepared_demo):
    from liveify.data.augment import AugmentConfig
    from liveify.data.dataset import song_windows
    from liveify.train import LiveifyDataModule

    always = AugmentConfig(probability=1.0, freq_mask_bins=8, time_mask_frames=20, noise_std=0.05)
    datamodule = LiveifyDataModule(
        mel_config=TINY_MEL, prepared=prepared_demo, batch_size=2, augment=always, seed=1
    )
    recorder = BatchRecorder()
    torch.manual_seed(0)
    module = LiveifyLightningModule(tiny_model_config(), TINY_MEL, learning_rate=1e-3)
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[recorder],
    )
    trainer.fit(module, datamodule=datamodule)

    def clean_windows(stems):
        songs = [song for song in prepared_demo.songs if song.studio_path.stem in stems]
        return np.concatenate([song_windows(song, TINY_MEL.context_frames)[0] for song in songs])

    # validation (sanity check + the epoch's pass): exactly the clean windows, in order
    clean_val = clean_windows(datamodule.val_songs)
    seen_val = torch.cat(recorder.val)[:, 0].numpy()
    sanity = len(seen_val) - len(clean_val)  # Lightning's sanity check: the first 2 batches
    assert sanity == 4
    np.testing.assert_array_equal(seen_val[:sanity], clean_val[:sanity])
    np.testing.assert_array_equal(seen_val[sanity:], clean_val)
    # training: every window was augmented, so none equals a clean window
    clean_train = clean_windows(datamodule.train_songs)
    seen_train = torch.cat(recorder.train)[:, 0].numpy()
    assert len(seen_train) == len(clean_train)
    for window in seen_train:
        distances = np.abs(clean_train - window).max(axis=(1, 2))
        assert distances.min() > 0.01


# --- end to end through the CLI ------------------------------------------------------------------

TINY_CLI_OPTIONS = [
    "--embed-dim", "32", "--num-heads", "2", "--num-transformer-layers", "2",
    "--gru-layers", "1", "--patch-size", "8", "--n-mels", "32", "--context-length", "4",
    "--batch-size", "4", "--learning-rate", "1e-3", "--num-workers", "0",
]  # fmt: skip


@pytest.mark.slow
def test_cli_demo_data_train_export_and_render(tmp_path):
    import soundfile as sf
    from click.testing import CliRunner

    from liveify.checkpoint import load_checkpoint
    from liveify.cli import main
    from liveify.model_file import read_metadata

    runner = CliRunner()
    demo = tmp_path / "demo"
    result = runner.invoke(
        main, ["demo-data", str(demo), "--songs", "3", "--duration", "6", "--seed", "2"]
    )
    assert result.exit_code == 0, result.output

    checkpoints, onnx_path = tmp_path / "checkpoints", tmp_path / "model.onnx"
    common = [
        str(demo / "studio"), str(demo / "live"), *TINY_CLI_OPTIONS, "--precision", "32",
        "--cache-dir", str(tmp_path / "cache"), "--checkpoint-dir", str(checkpoints),
        "--log-dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    result = runner.invoke(
        main, ["train", *common, "--max-epochs", "2", "--export", str(onnx_path), "--progress"]
    )
    assert result.exit_code == 0, result.output
    assert "best validation loss" in result.stdout and str(onnx_path) in result.stdout
    # stdout holds the report only; progress (forced on: stderr is no terminal here), pace and
    # notes go to stderr; no Lightning tips
    assert "Epoch" not in result.stdout and "time per step" not in result.stdout
    assert "Epoch 1" in result.stderr and "time per step" in result.stderr
    assert "Tip" not in result.output and "GPU available" not in result.output
    assert (checkpoints / "best.ckpt").resolve().parent == checkpoints / "version_0"

    model, config, info = load_checkpoint(checkpoints / "best.ckpt")
    assert (config.embed_dim, config.patch_size, config.context_frames) == (32, 8, 88)
    assert info["mel_config"]["n_mels"] == 32
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 32, 88)).shape == (2, 1, 32, 88)
    training_info = info["training_info"]
    songs = set(training_info["train_songs"]) | set(training_info["val_songs"])
    assert len(songs) == 3 and not set(training_info["train_songs"]) & set(
        training_info["val_songs"]
    )

    metadata = read_metadata(onnx_path)
    assert metadata["training_info"]["epochs"] == 2
    assert metadata["training_info"]["best_val_loss"] == pytest.approx(training_info["best_score"])

    # losses, learning rate and gradient norm were logged every step
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (event_file,) = (tmp_path / "logs").rglob("events.out.tfevents.*")
    events = EventAccumulator(str(event_file))
    events.Reload()
    tags = events.Tags()["scalars"]
    steps = [event.step for event in events.Scalars("train_loss_step")]
    assert len(steps) >= 4 and len(steps) == len(set(steps))
    assert len(events.Scalars("grad_norm")) == len(steps)
    assert any(tag.startswith("lr-AdamW") for tag in tags) and "val_loss" in tags
    # Lightning's ThroughputMonitor counted the training samples; the report shows their rate
    assert events.Scalars("train/samples")[-1].value == 2 * training_set_windows(result.stdout)
    assert "n/a samples/s" not in result.stdout

    # the exported model runs as a render stage on the demo audio
    model_stage = pytest.importorskip("liveify.plugins.model_stage")
    audio, sample_rate = sf.read(next((demo / "studio").glob("*.wav")), dtype="float32")
    audio = np.ascontiguousarray(audio.T)
    output = model_stage.LiveModel(str(onnx_path))(audio, sample_rate)
    assert output.shape == audio.shape
    assert np.all(np.isfinite(output)) and np.abs(output - audio).max() > 1e-4

    # resuming from the last checkpoint continues the run (one more epoch, cache reused)
    result = runner.invoke(
        main, ["train", *common, "--max-epochs", "3", "--resume", str(checkpoints / "last.ckpt")]
    )
    assert result.exit_code == 0, result.output
    _, _, info = load_checkpoint(checkpoints / "last.ckpt")
    assert info["training_info"]["epoch"] == 2  # 0-based: the third epoch


def training_set_windows(report: str) -> int:
    """The training windows in `liveify train`'s closing report ("2 train (10 windows)")."""
    import re

    return int(re.search(r"train \((\d+) windows\)", report).group(1))


def test_num_workers_are_clamped_to_the_cores(monkeypatch):
    from liveify.train import clamp_num_workers

    # the model stage's count of physical cores, shared with the render side
    monkeypatch.setattr("liveify.train.hardware.physical_cores", lambda: 2)
    assert clamp_num_workers(1) == (1, None)
    workers, note = clamp_num_workers(10)
    assert workers == 2 and "10" in note


def test_wandb_logger_is_offline_or_names_the_extra(tmp_path, monkeypatch):
    from liveify.errors import MissingDependencyError
    from liveify.train import make_logger

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match=r"liveify\[wandb\]"):
            make_logger("wandb", tmp_path)
        return
    make_logger("wandb", tmp_path)
    import os

    assert os.environ["WANDB_MODE"] == "offline"
