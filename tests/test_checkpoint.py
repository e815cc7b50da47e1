"""Checkpoint I/O (plain and Lightning layouts, weights-only loading, configs written before the
layer-count convention) and the run folders of `liveify train`."""

from __future__ import annotations

import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from liveify.checkpoint import (  # noqa: E402
    load_checkpoint,
    new_run_folder,
    newest_best_checkpoint,
    point_latest,
    save_checkpoint,
)
from liveify.errors import ModelFileError  # noqa: E402
from liveify.model import LiveifyModel, ModelConfig, count_parameters  # noqa: E402
from tests.helpers import TINY_MODEL  # noqa: E402


class _NotPlainData:
    """An arbitrary pickled class: a weights-only load must refuse it."""

    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_plain_checkpoint_round_trip(tmp_path, tiny_model):
    path = save_checkpoint(
        tmp_path / "model.pt",
        tiny_model,
        TINY_MODEL,
        extra={"mel_config": {"n_mels": 32}, "training_info": {"epochs": 3, "songs": ["a"]}},
    )
    model, config, info = load_checkpoint(path)
    assert config == TINY_MODEL
    assert info["format"] == "plain"
    assert info["mel_config"] == {"n_mels": 32}
    assert info["training_info"] == {"epochs": 3, "songs": ["a"]}
    mel = torch.rand(2, 1, 32, 64) * 2 - 1
    tiny_model.eval()
    torch.testing.assert_close(model(mel), tiny_model(mel))
    assert not model.training
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temp file left


def test_lightning_checkpoint_layout_is_accepted(tmp_path, tiny_model):
    """Lightning's layout: `model.`-prefixed keys, configs under hyper_parameters."""
    checkpoint = {
        "epoch": 7,
        "global_step": 140,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": {f"model.{key}": value for key, value in tiny_model.state_dict().items()},
        "hyper_parameters": {
            "model_config": TINY_MODEL.to_dict(),
            "mel_config": {"n_mels": 32},
            "songs": 12,
        },
        "callbacks": {
            "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}": {
                "monitor": "val_loss",
                "best_model_score": torch.tensor(0.25),
            }
        },
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-4}]}],
    }
    torch.save(checkpoint, tmp_path / "last.ckpt")
    model, config, info = load_checkpoint(tmp_path / "last.ckpt")
    assert config == TINY_MODEL and info["format"] == "lightning"
    assert info["training_info"] == {
        "epoch": 7,
        "global_step": 140,
        "best_score": 0.25,
        "monitor": "val_loss",
        "songs": 12,
    }
    assert info["mel_config"] == {"n_mels": 32}
    mel = torch.rand(1, 1, 32, 64) * 2 - 1
    tiny_model.eval()
    torch.testing.assert_close(model(mel), tiny_model(mel))


def test_checkpoint_with_pickled_object_is_refused(tmp_path, tiny_model):
    path = tmp_path / "evil.pt"
    torch.save(
        {
            "model_config": TINY_MODEL.to_dict(),
            "state_dict": tiny_model.state_dict(),
            "x": _NotPlainData(),
        },
        path,
    )
    with pytest.raises(ModelFileError, match="weights-only"):
        load_checkpoint(path)


def test_bad_checkpoints_name_the_file(tmp_path, tiny_model):
    with pytest.raises(ModelFileError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ModelFileError, match=r"garbage\.pt"):
        load_checkpoint(garbage)
    no_config = tmp_path / "no_config.pt"
    torch.save({"state_dict": tiny_model.state_dict()}, no_config)
    with pytest.raises(ModelFileError, match="no model_config"):
        load_checkpoint(no_config)
    mismatch = tmp_path / "mismatch.pt"
    torch.save(
        {
            "model_config": {**TINY_MODEL.to_dict(), "embed_dim": 64},
            "state_dict": tiny_model.state_dict(),
        },
        mismatch,
    )
    with pytest.raises(ModelFileError, match="do not match"):
        load_checkpoint(mismatch)


@pytest.mark.slow
def test_real_lightning_checkpoint_loads_weights_only(tmp_path):
    """A checkpoint written by an actual Trainer (callbacks, optimizer, loops) loads safely."""
    pl = pytest.importorskip("pytorch_lightning")

    class TinyModule(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = LiveifyModel(TINY_MODEL)
            self.save_hyperparameters(
                {"model_config": TINY_MODEL.to_dict(), "mel_config": {"n_mels": 32}, "songs": 2}
            )

        def training_step(self, batch, batch_index):
            (mel,) = batch
            return (self.model(mel) - mel).pow(2).mean()

        def validation_step(self, batch, batch_index):
            (mel,) = batch
            self.log("val_loss", (self.model(mel) - mel).pow(2).mean())

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-3)

    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.rand(4, 1, 32, 64) * 2 - 1), batch_size=2
    )
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, monitor="val_loss")
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint, pl.callbacks.EarlyStopping(monitor="val_loss")],
    )
    module = TinyModule()
    trainer.fit(module, data, data)
    model, config, info = load_checkpoint(checkpoint.best_model_path)
    assert config == TINY_MODEL and info["format"] == "lightning"
    assert info["training_info"]["epoch"] == 0 and info["training_info"]["songs"] == 2
    assert info["training_info"]["monitor"] == "val_loss"
    mel = torch.rand(1, 1, 32, 64) * 2 - 1
    module.model.eval()
    torch.testing.assert_close(model(mel), module.model(mel))


def test_checkpoint_written_with_layers_per_side_loads_unchanged(tmp_path):
    """A checkpoint from before the total-layer convention: `num_transformer_layers` 3 meant
    3 before and 3 after the GRU, and its config has no `layer_convention` key."""
    torch.manual_seed(1)
    old_network = LiveifyModel(ModelConfig(**{**TINY_MODEL.to_dict(), "num_transformer_layers": 6}))
    old_config = {
        key: value for key, value in old_network.config.to_dict().items()
        if key != "layer_convention"
    }  # fmt: skip
    old_config["num_transformer_layers"] = 3
    checkpoint = {
        "epoch": 2,
        "state_dict": {f"model.{key}": value for key, value in old_network.state_dict().items()},
        "hyper_parameters": {"model_config": old_config, "mel_config": {"n_mels": 32}},
    }
    torch.save(checkpoint, tmp_path / "old.ckpt")
    model, config, _ = load_checkpoint(tmp_path / "old.ckpt")
    assert (len(model.encoder), len(model.decoder)) == (3, 3)
    assert config.num_transformer_layers == 6
    assert count_parameters(model) == count_parameters(old_network)
    old_network.eval()
    mel = torch.rand(2, 1, 32, 64) * 2 - 1
    torch.testing.assert_close(model(mel), old_network(mel), rtol=0, atol=0)
    # saved again, it says which convention it uses and still loads the same network
    resaved = save_checkpoint(tmp_path / "new.pt", model, config)
    stored = torch.load(resaved, weights_only=True)["model_config"]
    assert stored["layer_convention"] == "total" and stored["num_transformer_layers"] == 6
    torch.testing.assert_close(load_checkpoint(resaved)[0](mel), model(mel), rtol=0, atol=0)


def test_runs_get_their_own_folders_and_links_name_the_newest(tmp_path):
    first = new_run_folder(tmp_path)
    second = new_run_folder(tmp_path, taken={"version_4", "other"})  # the logger's versions
    assert (first.name, second.name) == ("version_0", "version_5")
    with pytest.raises(ModelFileError, match=r"no best\.ckpt"):
        newest_best_checkpoint(tmp_path)
    for run in (first, second):
        (run / "best.ckpt").write_bytes(run.name.encode())
    # without a link, the highest version's best
    assert newest_best_checkpoint(tmp_path) == second / "best.ckpt"
    (tmp_path / "best.ckpt").write_bytes(b"trained before run folders")
    link = point_latest(tmp_path, first / "best.ckpt")
    assert link == tmp_path / "best.ckpt" and link.read_bytes() == b"version_0"
    if link.is_symlink():  # the file it replaced is kept
        kept = tmp_path / "best-unversioned.ckpt"
        assert kept.read_bytes() == b"trained before run folders"
        kept.unlink()
    assert newest_best_checkpoint(tmp_path) == (first / "best.ckpt").resolve()
    point_latest(tmp_path, second / "best.ckpt")  # replaced in place, relative
    assert link.read_bytes() == b"version_5"
    if link.is_symlink():
        assert os.readlink(link) == os.path.join("version_5", "best.ckpt")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "best.ckpt", "version_0", "version_5",
    ]  # fmt: skip
