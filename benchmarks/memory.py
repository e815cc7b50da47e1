"""Peak memory (RSS) of `liveify render` on a 60-minute stereo 44.1 kHz track.

The track is generated in 10 s blocks into a temporary folder and rendered in a fresh process;
the figure is that process's peak resident set size (resource.getrusage of the child), so
imports, beat tracking, rendering, the loudness pass and writing are all included.
Rows: DSP-only (`--no-model --preset stadium`) and with a random full-size ONNX model
(`--model`, exported to a temporary file). Target (DESIGN.md): < 1.5 GB (1536 MiB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, print_rows, row, run_cli, timed, write_synthetic_track

TARGET_MIB = 1536.0
#: The model render is skipped when it would take longer than this (2 shared cores are slow).
MODEL_BUDGET_S = 1200.0
#: Rendering with the full-size model took ~2.3x as long as DSP-only on the 2-core machine.
MODEL_OVER_DSP_TIME = 2.5


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


def run_cli_within(args: list[str], timeout_s: float) -> tuple[float, float, bool]:
    """`common.run_cli` with a time limit: (wall s, peak RSS MiB so far, finished in time)."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "try:\n"
        f"    subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, timeout={timeout_s})\n"
        "    finished = 1\n"
        "except subprocess.TimeoutExpired:\n"
        "    finished = 0\n"
        "elapsed = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(f'{elapsed} {peak} {finished}')\n"
    )
    command = [sys.executable, "-m", "liveify", *args]
    output = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        env=dict(os.environ),
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.split()
    return float(output[0]), float(output[1]), output[2] == "1"


def _render_args(album: Path, out: Path, extra: list[str]) -> list[str]:
    return ["render", str(album), "-o", str(out), "--preset", "stadium", "--no-progress", *extra]


def _render_row(
    name: str, album: Path, out: Path, duration_s: float, extra: list[str]
) -> tuple[dict, float]:
    """The peak-RSS row of one render, and the render's wall seconds."""
    seconds, peak_mib = run_cli(_render_args(album, out, extra))
    return row(
        name,
        peak_mib,
        "MiB",
        TARGET_MIB,
        higher_is_better=False,
        note=f"{duration_s / 60:.0f}-minute stereo 44.1 kHz track, rendered in {seconds:.0f} s "
        f"({duration_s / seconds:.1f}x real time)",
    ), seconds


def _skipped(label: str, note: str) -> dict:
    return {"benchmark": label, "value": None, "unit": "MiB", "target": f"<= {TARGET_MIB}",
            "result": "SKIP", "note": note}  # fmt: skip


def run(
    quick: bool = False, with_model: bool = True, model_budget_s: float = MODEL_BUDGET_S
) -> list[dict]:
    duration_s = 600.0 if quick else 3600.0
    work = Path(tempfile.mkdtemp(prefix="liveify-bench-memory-"))
    rows = []
    try:
        album = work / "album"
        album.mkdir()
        write_synthetic_track(album / "01 Long Set.wav", duration_s)
        dsp_row, dsp_s = _render_row(
            f"peak RSS, render {duration_s / 60:.0f} min DSP-only",
            album,
            work / "out-dsp",
            duration_s,
            ["--no-model"],
        )
        rows.append(dsp_row)
        shutil.rmtree(work / "out-dsp", ignore_errors=True)
        label = f"peak RSS, render {duration_s / 60:.0f} min with full-size model"
        projected_s = MODEL_OVER_DSP_TIME * dsp_s
        if not with_model:
            rows.append(_skipped(label, "skipped (--no-model-row)"))
        elif projected_s > model_budget_s:
            rows.append(
                _skipped(
                    label,
                    f"skipped: would take ~{projected_s / 60:.0f} min here (DSP-only took "
                    f"{dsp_s:.0f} s), over the {model_budget_s / 60:.0f} min budget; "
                    "run memory.py --model-budget-s N on a quieter machine",
                )
            )
        else:
            model = work / "full-size.onnx"
            export_s = export_full_size_model(model)
            seconds, peak_mib, finished = run_cli_within(
                _render_args(album, work / "out-model", ["--model", str(model)]), model_budget_s
            )
            if finished:
                rows.append(
                    row(
                        label,
                        peak_mib,
                        "MiB",
                        TARGET_MIB,
                        higher_is_better=False,
                        note=f"rendered in {seconds:.0f} s ({duration_s / seconds:.1f}x real "
                        f"time); random weights, exported in {export_s:.0f} s",
                    )
                )
            else:
                rows.append(
                    _skipped(
                        label,
                        f"stopped after the {model_budget_s:.0f} s budget; peak so far "
                        f"{peak_mib:.0f} MiB",
                    )
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 10-minute track instead of 60")
    parser.add_argument(
        "--no-model-row", action="store_true", help="skip the render with the full-size model"
    )
    parser.add_argument(
        "--model-budget-s",
        type=float,
        default=MODEL_BUDGET_S,
        help="longest allowed render with the model (it is skipped if projected to take longer)",
    )
    arguments = parser.parse_args()
    print_rows(
        run(
            quick=arguments.quick,
            with_model=not arguments.no_model_row,
            model_budget_s=arguments.model_budget_s,
        )
    )
