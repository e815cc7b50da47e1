"""Shared pieces of the benchmark scripts: synthetic test tracks, timing, result rows."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent


def write_synthetic_track(
    path: Path, duration_s: float, sample_rate: int = 44100, seed: int = 0
) -> Path:
    """A music-like stereo track (chords, plucks, noise hits), written in 10 s blocks."""
    rng = np.random.default_rng(seed)
    block_s = 10
    with sf.SoundFile(path, "w", samplerate=sample_rate, channels=2, subtype="PCM_24") as out:
        for start_s in range(0, int(np.ceil(duration_s)), block_s):
            seconds = min(block_s, duration_s - start_s)
            t = start_s + np.arange(int(seconds * sample_rate)) / sample_rate
            root = 110 * 2 ** (((start_s // block_s) % 4) * 5 / 12)
            chord = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1, 1.26, 1.5, 2))
            pluck = np.exp(-8 * (t % 0.5))
            hits = rng.standard_normal(len(t)) * np.exp(-30 * (t % 1.0))
            mono = 0.12 * chord * (0.4 + 0.6 * pluck) + 0.1 * hits
            stereo = np.stack([mono, np.roll(mono, 37)]).T.astype(np.float32)
            out.write(stereo)
    return path


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def pinned(command: list[str], cores: str | None) -> tuple[list[str], dict]:
    """`command` and its environment, pinned with taskset to `cores` (e.g. "0") with as many math
    threads. Pinning has to happen before the process starts: BLAS thread pools created at numpy
    import keep the affinity they started with and spin on the other cores."""
    env = dict(os.environ)
    if cores is None:
        return command, env
    threads = str(len(cores.split(",")))
    env.update(
        OMP_NUM_THREADS=threads,
        OPENBLAS_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        NUMBA_NUM_THREADS=threads,
    )
    return ["taskset", "-c", cores, *command], env


def run_cli(args: list[str], *, cores: str | None = None) -> tuple[float, int]:
    """Run `liveify ARGS` in a fresh process; returns (wall seconds, peak RSS of it in MiB).

    `cores` pins the process and its math libraries to the given CPUs (see `pinned`).
    """
    command, env = pinned([sys.executable, "-m", "liveify", *args], cores)
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "elapsed = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(f'{elapsed} {peak}')\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.split()
    return float(output[0]), float(output[1])


def row(
    name: str,
    value: float,
    unit: str,
    target: float | None,
    higher_is_better: bool = True,
    note: str = "",
) -> dict:
    """One result row: the measured figure, its target and PASS/MISS."""
    if target is None:
        verdict = "-"
    else:
        verdict = "PASS" if (value >= target if higher_is_better else value <= target) else "MISS"
    comparison = ">=" if higher_is_better else "<="
    return {
        "benchmark": name,
        "value": round(value, 3),
        "unit": unit,
        "target": None if target is None else f"{comparison} {target}",
        "result": verdict,
        "note": note,
    }


def print_rows(rows: list[dict]) -> None:
    header = ("benchmark", "value", "unit", "target", "result", "note")
    table = [header] + [tuple(str(r[k] if r[k] is not None else "") for k in header) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result
