"""Peak memory (RSS) of `liveify render` on a 60-minute stereo 44.1 kHz track.

The track is generated in 10 s blocks into a temporary folder and rendered in a fresh process;
the figure is that process's peak resident set size (resource.getrusage of the child), so
imports, beat tracking, rendering, the loudness pass and writing are all included.
Rows: DSP-only (`--no-model --preset stadium`) and with a random full-size ONNX model
(`--model`, exported to a temporary file). Target (DESIGN.md): < 1.5 GB (1536 MiB).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import print_rows, row, run_cli, timed, write_synthetic_track

TARGET_MIB = 1536.0


def export_full_size_model(path: Path) -> float:
    """A random-weight full-size ViT-GRU as ONNX (no parity check); returns export seconds."""
    import torch

    from liveify.export import export_onnx
    from liveify.mel import MelConfig
    from liveify.model import LiveifyModel, ModelConfig

    torch.manual_seed(0)
    seconds, _ = timed(
        export_onnx, LiveifyModel(ModelConfig()), path, mel_config=MelConfig(), check=False
    )
    return seconds


def _render_row(name: str, album: Path, out: Path, duration_s: float, extra: list[str]) -> dict:
    seconds, peak_mib = run_cli(
        ["render", str(album), "-o", str(out), "--preset", "stadium", "--no-progress", *extra]
    )
    return row(
        name,
        peak_mib,
        "MiB",
        TARGET_MIB,
        higher_is_better=False,
        note=f"{duration_s / 60:.0f}-minute stereo 44.1 kHz track, rendered in {seconds:.0f} s "
        f"({duration_s / seconds:.1f}x real time)",
    )


def run(quick: bool = False, with_model: bool = True) -> list[dict]:
    duration_s = 600.0 if quick else 3600.0
    work = Path(tempfile.mkdtemp(prefix="liveify-bench-memory-"))
    rows = []
    try:
        album = work / "album"
        album.mkdir()
        write_synthetic_track(album / "01 Long Set.wav", duration_s)
        rows.append(
            _render_row(
                f"peak RSS, render {duration_s / 60:.0f} min DSP-only",
                album,
                work / "out-dsp",
                duration_s,
                ["--no-model"],
            )
        )
        shutil.rmtree(work / "out-dsp", ignore_errors=True)
        label = f"peak RSS, render {duration_s / 60:.0f} min with full-size model"
        if not with_model:
            rows.append(
                {"benchmark": label, "value": None, "unit": "MiB", "target": f"<= {TARGET_MIB}",
                 "result": "SKIP", "note": "skipped (--no-model-row)"}
            )  # fmt: skip
        else:
            model = work / "full-size.onnx"
            export_s = export_full_size_model(model)
            rows.append(
                _render_row(label, album, work / "out-model", duration_s, ["--model", str(model)])
            )
            rows[-1]["note"] += f"; random weights, exported in {export_s:.0f} s"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 10-minute track instead of 60")
    parser.add_argument(
        "--no-model-row", action="store_true", help="skip the render with the full-size model"
    )
    arguments = parser.parse_args()
    print_rows(run(quick=arguments.quick, with_model=not arguments.no_model_row))
