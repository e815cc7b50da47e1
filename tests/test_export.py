"""Tests for ONNX export: dynamic batch, metadata, parity check, atomic writes, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

import liveify  # noqa: E402
import liveify.export.onnx as onnx_export  # noqa: E402
from liveify.checkpoint import save_checkpoint  # noqa: E402
from liveify.errors import ModelFileError, ParameterError  # noqa: E402
from liveify.export import PARITY_BOUND, export_checkpoint, export_onnx  # noqa: E402
from liveify.mel import MelConfig  # noqa: E402
from liveify.model import ModelConfig  # noqa: E402
from liveify.model_file import read_metadata  # noqa: E402
from tests.helpers import TINY_MODEL, make_tiny_model  # noqa: E402

TINY_MEL = MelConfig(n_mels=32, segment_duration=0.36, context_length=4)


@pytest.fixture(scope="module")
def tiny_model():
    return make_tiny_model().eval()  # one model for the module: exports only read it


def test_fp32_export_matches_torch_at_any_batch_size(tmp_path, tiny_model):
    path = tmp_path / "model.onnx"
    report = export_onnx(tiny_model, path, mel_config=TINY_MEL, training_info={"songs": 12})
    assert report.passed and report.precision == "fp32"
    assert report.max_abs_error < 1e-4 and report.bound == PARITY_BOUND["fp32"] == 1e-4
    assert report.batch_sizes == (3, 1) and report.provider == "CPUExecutionProvider"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temp file left

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["mel"]
    assert [o.name for o in session.get_outputs()] == ["live_mel"]
    for batch in (1, 3, 5):
        mel = torch.rand(batch, 1, 32, 64) * 2 - 1
        (actual,) = session.run(None, {"mel": mel.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(actual, tiny_model(mel).numpy(), atol=1e-4)


@pytest.mark.parametrize("fused", [True, False])
def test_attention_exports_fused_or_as_standard_onnx(tmp_path, tiny_model, fused):
    path = tmp_path / "model.onnx"
    report = export_onnx(tiny_model, path, mel_config=TINY_MEL, fused_attention=fused)
    assert report.passed
    graph = onnx.load(str(path)).graph
    op_types = [node.op_type for node in graph.node]
    # one block before the GRU and one after, one attention node each
    assert op_types.count("MultiHeadAttention") == (2 if fused else 0)
    assert ("Softmax" in op_types) is not fused
    heads = [
        attribute.i
        for node in graph.node
        if node.op_type == "MultiHeadAttention"
        for attribute in node.attribute
        if attribute.name == "num_heads"
    ]
    assert heads == ([TINY_MODEL.num_heads] * 2 if fused else [])
    expected = "com.microsoft::MultiHeadAttention" if fused else "onnx"
    assert read_metadata(path)["attention"] == expected
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mel = torch.rand(2, 1, 32, 64) * 2 - 1
    (actual,) = session.run(None, {"mel": mel.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(actual, tiny_model(mel).numpy(), atol=1e-4)


def test_metadata_describes_the_model(tmp_path, tiny_model):
    path = tmp_path / "model.onnx"
    export_onnx(tiny_model, path, mel_config=TINY_MEL, training_info={"songs": 12, "epochs": 3})
    meta = read_metadata(path)
    assert ModelConfig.from_dict(meta["model_config"]) == TINY_MODEL
    assert meta["model_config"]["layer_convention"] == "total"
    assert MelConfig.from_dict(meta["mel_config"]) == TINY_MEL
    assert meta["training_info"] == {"songs": 12, "epochs": 3}
    assert meta["liveify_version"] == liveify.__version__
    assert (meta["input_name"], meta["output_name"], meta["precision"]) == (
        "mel",
        "live_mel",
        "fp32",
    )
    assert meta["parity"]["max_abs_error_random"] < 1e-4
    assert onnx.load(path).producer_name == "liveify"


def test_fp16_export_keeps_float32_io_within_its_bound(tmp_path, tiny_model):
    path = tmp_path / "model16.onnx"
    report = export_onnx(tiny_model, path, mel_config=TINY_MEL, fp16=True)
    assert report.precision == "fp16" and report.bound == 1e-2
    assert 0 < report.max_abs_error < 1e-2  # float16 is measurably less exact than float32
    # checked on the provider the model renders on: CUDA where this ONNX Runtime has it
    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    expected = "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"
    assert report.provider == read_metadata(path)["parity"]["provider"] == expected
    assert f"on {expected}" in str(report)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"
    assert read_metadata(path)["precision"] == "fp16"
    initializers = onnx.load(path).graph.initializer
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in initializers)


def test_failed_parity_check_is_an_error_and_keeps_the_old_file(tmp_path, tiny_model, monkeypatch):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous export")
    monkeypatch.setitem(onnx_export.PARITY_BOUND, "fp32", 0.0)  # no real export is exact
    with pytest.raises(ModelFileError, match="differs from torch"):
        export_onnx(tiny_model, path, mel_config=TINY_MEL)
    assert path.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_mel_config_must_match_the_model(tmp_path, tiny_model):
    with pytest.raises(ParameterError, match="n_mels"):
        export_onnx(tiny_model, tmp_path / "m.onnx", mel_config=MelConfig())
    with pytest.raises(ParameterError, match="context_frames"):
        export_onnx(tiny_model, tmp_path / "m.onnx", mel_config=MelConfig(n_mels=32))
    assert not (tmp_path / "m.onnx").exists()


def test_export_from_a_plain_checkpoint_carries_training_info(tmp_path, tiny_model):
    checkpoint = save_checkpoint(
        tmp_path / "best.pt",
        tiny_model,
        extra={"mel_config": TINY_MEL, "training_info": {"epochs": 4, "val_loss": 0.125}},
    )
    report = export_checkpoint(checkpoint, tmp_path / "model.onnx")
    assert report.passed
    meta = read_metadata(tmp_path / "model.onnx")
    assert meta["training_info"] == {"epochs": 4, "val_loss": 0.125, "checkpoint": "best.pt"}
    assert MelConfig.from_dict(meta["mel_config"]) == TINY_MEL
    # what a finished run knows beyond the file is added, and wins
    export_checkpoint(checkpoint, tmp_path / "run.onnx", training_info={"epochs": 5, "steps": 9})
    meta = read_metadata(tmp_path / "run.onnx")
    assert meta["training_info"] == {
        "epochs": 5, "steps": 9, "val_loss": 0.125, "checkpoint": "best.pt",
    }  # fmt: skip


def test_bundled_model_metadata_counts_layers_per_side():
    """The bundled model was exported before the total convention: its metadata has no
    `layer_convention`, and read that way it describes the graph (one attention softmax or fused
    attention node per transformer layer)."""
    from pathlib import Path

    path = Path(liveify.__file__).parent / "models" / "demo.onnx"
    stored = read_metadata(path)["model_config"]
    assert "layer_convention" not in stored and stored["num_transformer_layers"] == 1
    config = ModelConfig.from_dict(stored)
    assert (config.layers_before_gru, config.layers_after_gru) == (1, 1)
    nodes = [node.op_type for node in onnx.load(str(path)).graph.node]
    attention = nodes.count("MultiHeadAttention") + nodes.count("Softmax")
    assert attention == config.num_transformer_layers == 2


def test_read_metadata_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        read_metadata(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not protobuf")
    with pytest.raises(ModelFileError, match=r"junk\.onnx.*liveify export"):
        read_metadata(junk)


def test_music_like_window_spans_floor_and_loud_bands():
    window = onnx_export.music_like_window(TINY_MEL, 64)
    assert window.shape == (32, 64) and window.dtype == np.float32
    assert window.min() == -1.0 and window.max() > -0.2


def test_export_command_writes_a_checked_model(tmp_path, tiny_model):
    from click.testing import CliRunner

    from liveify.cli import main

    checkpoint = save_checkpoint(tmp_path / "best.pt", tiny_model, extra={"mel_config": TINY_MEL})
    result = CliRunner().invoke(main, ["export", str(checkpoint), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "parity max |torch - ORT|" in result.output
    assert read_metadata(tmp_path / "m.onnx")["training_info"]["checkpoint"] == "best.pt"

    default = CliRunner().invoke(main, ["export", str(checkpoint), "--fp16"])
    assert default.exit_code == 0, default.output
    assert read_metadata(tmp_path / "best.onnx")["precision"] == "fp16"
    assert read_metadata(tmp_path / "best.onnx")["attention"] != "onnx"

    portable = tmp_path / "portable.onnx"
    result = CliRunner().invoke(
        main, ["export", str(checkpoint), "-o", str(portable), "--no-fused-attention"]
    )
    assert result.exit_code == 0, result.output
    assert read_metadata(portable)["attention"] == "onnx"

    missing = CliRunner().invoke(main, ["export", str(tmp_path / "nope.ckpt")])
    assert missing.exit_code != 0 and "not found" in missing.output

    # no CHECKPOINT: the newest training run's best, from --checkpoint-dir
    from liveify.checkpoint import new_run_folder, point_latest

    runs = tmp_path / "checkpoints"
    old, newest = new_run_folder(runs), new_run_folder(runs)
    for run in (old, newest):
        save_checkpoint(run / "best.ckpt", tiny_model, extra={"mel_config": TINY_MEL})
    point_latest(runs, newest / "best.ckpt")
    result = CliRunner().invoke(main, ["export", "--checkpoint-dir", str(runs)])
    assert result.exit_code == 0, result.output
    assert (newest / "best.onnx").is_file() and not (old / "best.onnx").exists()
    empty = CliRunner().invoke(main, ["export", "--checkpoint-dir", str(tmp_path / "none")])
    assert empty.exit_code == 1 and "no best.ckpt" in empty.output
    help_text = CliRunner().invoke(main, ["export", "--help"]).output
    assert "liveify export runs/best.ckpt -o model.onnx" in help_text


def test_export_rejects_an_unsupported_opset(tmp_path, tiny_model):
    with pytest.raises(ParameterError, match="opset"):
        export_onnx(tiny_model, tmp_path / "m.onnx", mel_config=TINY_MEL, opset=13)
