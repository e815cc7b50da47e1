"""Tests for the ViT-GRU model, its FLOP count and checkpoint I/O (tiny configs)."""

from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")

from liveify.errors import ModelFileError, ParameterError  # noqa: E402
from liveify.model import (  # noqa: E402
    LiveifyModel,
    ModelConfig,
    count_parameters,
    flops_per_window,
    load_checkpoint,
    save_checkpoint,
)

TINY = ModelConfig(
    embed_dim=32,
    num_heads=2,
    num_transformer_layers=1,
    n_mels=32,
    context_frames=64,
    patch_size=16,
)


class _NotPlainData:
    """An arbitrary pickled class: a weights-only load must refuse it."""

    def __reduce__(self):
        return (print, ("arbitrary code ran",))


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return LiveifyModel(TINY)


@pytest.mark.parametrize("frames", [16, 48, 64])
def test_output_shape_matches_input(tiny_model, frames):
    mel = torch.rand(3, 1, TINY.n_mels, frames) * 2 - 1
    assert tiny_model(mel).shape == (3, 1, TINY.n_mels, frames)


def test_output_is_in_unit_range_even_for_extreme_input(tiny_model):
    with torch.no_grad():
        for layer in tiny_model.reconstruct.parameters():
            layer.mul_(1000.0)  # drive the tanh into saturation
    output = tiny_model(torch.randn(2, 1, TINY.n_mels, 64) * 10)
    assert output.min() >= -1.0 and output.max() <= 1.0
    assert output.abs().max() > 0.99


def test_gradients_reach_every_parameter(tiny_model):
    tiny_model.train()
    mel = torch.rand(2, 1, TINY.n_mels, 64) * 2 - 1
    tiny_model(mel).pow(2).mean().backward()
    missing = [
        name
        for name, parameter in tiny_model.named_parameters()
        if name != "cls_token" and (parameter.grad is None or parameter.grad.abs().sum() == 0)
    ]
    assert missing == []
    # the CLS token is attended to by every patch token, so it gets a gradient too
    assert tiny_model.cls_token.grad is not None and tiny_model.cls_token.grad.abs().sum() > 0


def test_gru_is_present_and_bidirectional(tiny_model):
    gru = tiny_model.recurrent.gru
    assert isinstance(gru, torch.nn.GRU)
    assert gru.bidirectional and gru.num_layers == 2 and gru.batch_first
    assert gru.hidden_size * 2 == TINY.embed_dim


def test_time_order_matters_through_the_gru(tiny_model):
    """Tokens are time-ordered: reversing the input in time changes more than the order."""
    tiny_model.eval()
    mel = torch.rand(1, 1, TINY.n_mels, 64) * 2 - 1
    forward = tiny_model(mel)
    backward = tiny_model(mel.flip(-1)).flip(-1)
    assert not torch.allclose(forward, backward, atol=1e-3)


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 32, 60), (1, 1, 32, 80), (1, 1, 16, 64), (1, 2, 32, 64), (32, 64)],
)
def test_bad_input_shape_is_a_parameter_error(tiny_model, shape):
    with pytest.raises(ParameterError, match=r"frames|shaped"):
        tiny_model(torch.zeros(shape))


@pytest.mark.parametrize(
    "changes",
    [{"embed_dim": 30}, {"n_mels": 40}, {"context_frames": 70}, {"dropout": 1.5}],
)
def test_invalid_config_is_a_parameter_error(changes):
    with pytest.raises(ParameterError, match="ModelConfig"):
        ModelConfig(**{**TINY.to_dict(), **changes})


def test_config_round_trips_through_dict():
    assert ModelConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ParameterError, match="unknown ModelConfig keys: depth"):
        ModelConfig.from_dict({**TINY.to_dict(), "depth": 3})


def test_default_size_and_flops():
    config = ModelConfig()
    model = LiveifyModel(config)
    assert 25e6 < count_parameters(model) < 30e6
    # 8 blocks x 705 tokens dominate: about 47 GFLOP per 1408-frame window
    assert 45e9 < flops_per_window(config) < 50e9


def test_flops_match_a_hand_count_for_a_minimal_model():
    config = ModelConfig(
        embed_dim=4,
        num_heads=1,
        num_transformer_layers=0,
        gru_layers=1,
        gru_bidirectional=False,
        mlp_ratio=1.0,
        n_mels=2,
        context_frames=2,
        patch_size=1,
    )
    # 4 patches, 5 tokens: embed 4*1*4, GRU 5*3*(4+4)*4, reconstruction 4*4*1
    assert flops_per_window(config) == 2 * (16 + 480 + 16)


def test_plain_checkpoint_round_trip(tmp_path, tiny_model):
    path = save_checkpoint(
        tmp_path / "model.pt",
        tiny_model,
        TINY,
        extra={"mel_config": {"n_mels": 32}, "training_info": {"epochs": 3, "songs": ["a"]}},
    )
    model, config, info = load_checkpoint(path)
    assert config == TINY
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
            "model_config": TINY.to_dict(),
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
    assert config == TINY and info["format"] == "lightning"
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
            "model_config": TINY.to_dict(),
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
            "model_config": {**TINY.to_dict(), "embed_dim": 64},
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
            self.model = LiveifyModel(TINY)
            self.save_hyperparameters(
                {"model_config": TINY.to_dict(), "mel_config": {"n_mels": 32}, "songs": 2}
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
    assert config == TINY and info["format"] == "lightning"
    assert info["training_info"]["epoch"] == 0 and info["training_info"]["songs"] == 2
    assert info["training_info"]["monitor"] == "val_loss"
    mel = torch.rand(1, 1, 32, 64) * 2 - 1
    module.model.eval()
    torch.testing.assert_close(model(mel), module.model(mel))
