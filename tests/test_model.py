"""Tests for the ViT-GRU model, its configuration and its FLOP count (tiny configs)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from liveify.errors import ParameterError  # noqa: E402
from liveify.model import (  # noqa: E402
    LiveifyModel,
    ModelConfig,
    count_parameters,
    flops_per_window,
    size_summary,
)
from tests.helpers import TINY_MODEL  # noqa: E402


@pytest.mark.parametrize("frames", [16, 48, 64])
def test_output_shape_matches_input(tiny_model, frames):
    mel = torch.rand(3, 1, TINY_MODEL.n_mels, frames) * 2 - 1
    assert tiny_model(mel).shape == (3, 1, TINY_MODEL.n_mels, frames)


def test_output_is_in_unit_range_even_for_extreme_input(tiny_model):
    with torch.no_grad():
        for layer in tiny_model.reconstruct.parameters():
            layer.mul_(1000.0)  # drive the tanh into saturation
    output = tiny_model(torch.randn(2, 1, TINY_MODEL.n_mels, 64) * 10)
    assert output.min() >= -1.0 and output.max() <= 1.0
    assert output.abs().max() > 0.99


def test_gradients_reach_every_parameter(tiny_model):
    tiny_model.train()
    mel = torch.rand(2, 1, TINY_MODEL.n_mels, 64) * 2 - 1
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
    assert gru.hidden_size * 2 == TINY_MODEL.embed_dim


def test_time_order_matters_through_the_gru(tiny_model):
    """Tokens are time-ordered: reversing the input in time changes more than the order."""
    tiny_model.eval()
    mel = torch.rand(1, 1, TINY_MODEL.n_mels, 64) * 2 - 1
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
        ModelConfig(**{**TINY_MODEL.to_dict(), **changes})


def test_config_round_trips_through_dict():
    assert ModelConfig.from_dict(TINY_MODEL.to_dict()) == TINY_MODEL
    with pytest.raises(ParameterError, match="unknown ModelConfig keys: depth"):
        ModelConfig.from_dict({**TINY_MODEL.to_dict(), "depth": 3})


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


# --- the original specification's interface -------------------------------------------------------


def test_layer_count_is_the_total_split_around_the_gru():
    for total, before, after in [(8, 4, 4), (6, 3, 3), (7, 4, 3), (1, 1, 0), (0, 0, 0)]:
        config = ModelConfig(**{**TINY_MODEL.to_dict(), "num_transformer_layers": total})
        model = LiveifyModel(config)
        assert (len(model.encoder), len(model.decoder)) == (before, after)
        assert (config.layers_before_gru, config.layers_after_gru) == (before, after)


def test_spec_memory_tip_builds_3_plus_3_layers_of_12_2_million_parameters():
    """`--embed_dim 384 --num_transformer_layers 6` from the spec: 3 + 3 layers, 12.2 M
    parameters, 21.7 GFLOP per window (built on the meta device, never trained)."""
    config = ModelConfig(embed_dim=384, num_transformer_layers=6)
    with torch.device("meta"):
        model = LiveifyModel(config)
    assert (len(model.encoder), len(model.decoder)) == (3, 3)
    assert round(count_parameters(model) / 1e6, 1) == 12.2
    assert round(flops_per_window(config) / 1e9, 1) == 21.7
    assert size_summary(config) == "12.2 M parameters, 21.7 GFLOP per 1408-frame window"
    assert size_summary(ModelConfig()).startswith("27.9 M parameters, 47.3 GFLOP")


def test_spec_keyword_constructor_builds_the_default_model():
    spec = dict(
        input_fdim=128, input_tdim=1408, patch_size=(16, 16), embed_dim=512,
        num_transformer_layers=8, num_heads=8, mlp_ratio=4.0, gru_layers=2,
        dropout=0.1, attention_dropout=0.1,
    )  # fmt: skip
    with torch.device("meta"):
        model = LiveifyModel(**spec)
        reference = LiveifyModel(ModelConfig())
    assert model.config == ModelConfig()
    assert model.config.freq_patches * model.config.time_patches == 704  # 8 x 88 patches
    assert count_parameters(model) == count_parameters(reference)
    with pytest.raises(ParameterError, match="not both"):
        LiveifyModel(ModelConfig(), embed_dim=32)
    with pytest.raises(ParameterError, match="'input_fdims'"):
        LiveifyModel(input_fdims=128)


def test_rectangular_patches_run_and_cover_the_window():
    config = ModelConfig.from_keywords(
        input_fdim=32, input_tdim=64, patch_size=(16, 8), embed_dim=32, num_heads=2,
        num_transformer_layers=2,
    )  # fmt: skip
    assert config.patch_shape == (16, 8) and (config.freq_patches, config.time_patches) == (2, 8)
    model = LiveifyModel(config).eval()
    mel = torch.rand(2, 1, 32, 64) * 2 - 1
    output = model(mel)
    assert output.shape == mel.shape
    # every output frame depends on its own input frame: the fold-back puts pixels in place
    changed = mel.clone()
    changed[..., 60] = -1.0
    difference = (model(changed) - output).abs().amax(dim=(0, 1, 2))
    assert difference[60] > 0
    with pytest.raises(ParameterError, match="patch's 8 frames"):
        model(torch.zeros(1, 1, 32, 60))
    assert ModelConfig(patch_size=(16, 16)) == ModelConfig(patch_size=16)
    assert ModelConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"patch_size": (16, 16, 1)}, "patch_size"),
        ({"patch_size": "16"}, "patch_size"),
        ({"patch_size": (0, 16)}, "patch_size"),
        ({"embed_dim": "512"}, "embed_dim"),
        ({"num_heads": 3}, "num_heads"),
        ({"num_transformer_layers": -1}, "num_transformer_layers"),
        ({"mlp_ratio": 0}, "mlp_ratio"),
        ({"gru_layers": 1.5}, "gru_layers"),
        ({"dropout": True}, "dropout"),
        ({"context_frames": 1400}, "context_frames"),
    ],
)
def test_invalid_values_are_parameter_errors_naming_the_argument(changes, named):
    with pytest.raises(ParameterError, match=rf"ModelConfig\.{named} ="):
        ModelConfig(**changes)
    keywords = {("input_tdim" if key == "context_frames" else key): value
                for key, value in changes.items()}  # fmt: skip
    with pytest.raises(ParameterError, match=named):
        LiveifyModel(**keywords)


def test_configs_written_per_side_read_as_the_same_network():
    """Configs from before the total convention (no `layer_convention` key) count per side."""
    legacy = {
        key: value for key, value in TINY_MODEL.to_dict().items() if key != "layer_convention"
    }
    legacy["num_transformer_layers"] = 1
    config = ModelConfig.from_dict(legacy)
    assert config.num_transformer_layers == 2 and config == TINY_MODEL
    assert TINY_MODEL.to_dict()["layer_convention"] == "total"
    with pytest.raises(ParameterError, match="layer_convention"):
        ModelConfig.from_dict({**TINY_MODEL.to_dict(), "layer_convention": "per_block"})
