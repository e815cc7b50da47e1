"""The wheel carries what users of a typed, licensed package expect."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_has_the_licence_the_type_marker_and_the_models(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("liveify-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert "liveify/py.typed" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "liveify/models/demo.onnx" in names and "liveify/presets/stadium.toml" in names
    text = metadata.decode()
    assert "License-Expression: MIT" in text and "Classifier: Typing :: Typed" in text
    # The two ONNX runtimes install the same package: no extra may pull both in.
    requirements = [line for line in text.splitlines() if line.startswith("Requires-Dist:")]
    for extra in ("train", "lyrics", "dev", "wandb", "ray"):
        runtimes = [r for r in requirements if f"extra == '{extra}'" in r and "onnxruntime" in r]
        assert not runtimes, (extra, runtimes)
