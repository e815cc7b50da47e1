"""Speed of the model stage: the full-size model (torch eager vs ONNX Runtime per window, and
LiveModel on a track), and the render with the bundled model against the same render without it.

Prints real-time factors and ratios against the targets with PASS/MISS; `run(quick=False)`
returns the result rows for a suite runner. Random weights for the full-size model (speed does
not depend on training). Targets (DESIGN.md): stage >= 20x real time on 2 cores; ORT >= 1.3x
torch eager; a render with the bundled model <= 1.5x the time of the same render with
--no-model, on 2 cores.

    python benchmarks/model_speed.py            # ~3 minutes on 2 cores
    python benchmarks/model_speed.py --quick    # ~1 minute: fewer repeats, 60 s tracks, no knobs
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, print_rows, row, write_synthetic_track

TARGET_STAGE_REALTIME = 20.0  # x real time, 2 CPU cores
TARGET_ORT_OVER_TORCH = 1.3
TARGET_MODEL_RENDER_RATIO = 1.5  # render time with the bundled model / without, 2 cores
RENDER_REPEATS = 3
#: Idle time before each timed call so the other runtime's spinning threads have gone to sleep.
PAUSE_S = 0.05


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def synthetic_track(seconds: float, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """Stereo chords, bass, hats and kick with a little noise: a stand-in for a mastered song."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(seconds * sample_rate)) / sample_rate
    bar_s = 2.0
    chords_hz = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)]
    left = np.zeros_like(time_s)
    right = np.zeros_like(time_s)
    bar = (time_s // bar_s).astype(int)
    local_s = time_s % bar_s
    for voice in range(3):
        root_hz = np.array([chord[voice] for chord in chords_hz])[bar % 3]
        tone = np.sin(2 * np.pi * root_hz * time_s) + 0.3 * np.sin(4 * np.pi * root_hz * time_s)
        left += (0.5 + 0.25 * voice) * tone
        right += (1.0 - 0.25 * voice) * tone
    bass = np.sin(2 * np.pi * 55.0 * time_s) * np.exp(-2.0 * (time_s % 0.5))
    beat_s = time_s % 0.5
    kick = np.sin(2 * np.pi * 60 * beat_s * np.exp(-beat_s * 8)) * np.exp(-beat_s * 20)
    hats = rng.standard_normal(len(time_s)) * np.exp(-((time_s + 0.25) % 0.5) * 60)
    envelope = 0.6 + 0.4 * np.exp(-local_s)
    mix = np.stack([left, right]) * 0.05 * envelope + 0.25 * (bass + kick) + 0.04 * hats
    mix += 0.003 * rng.standard_normal(mix.shape)
    return (mix / np.abs(mix).max() * 0.7).astype(np.float32)


def render_ratio_rows(quick: bool = False) -> list[dict]:
    """`render_album` (stadium preset) of one track with the bundled model and with --no-model,
    interleaved in this process after a warm-up of each, best of `RENDER_REPEATS`: the ratio."""
    from liveify.presets import load_preset
    from liveify.render import RenderSettings, collect_tracks, render_album, resolve_model

    duration_s = 60.0 if quick else 240.0
    work = Path(tempfile.mkdtemp(prefix="liveify-bench-"))
    try:
        (work / "album").mkdir()
        (work / "warm").mkdir()
        write_synthetic_track(work / "album" / "01 Track.wav", duration_s, seed=3)
        write_synthetic_track(work / "warm" / "01 Warm.wav", 10.0, seed=4)
        preset = load_preset("stadium")
        times: dict[str, list[float]] = {"model": [], "no model": []}
        for attempt in range(RENDER_REPEATS + 1):  # the first round warms both up
            for label, use_model in (("no model", False), ("model", True)):
                model = resolve_model(None, use_model, preset)  # the bundled model
                source = work / ("warm" if attempt == 0 else "album")
                output = work / f"out-{label.replace(' ', '-')}-{attempt}"
                settings = RenderSettings(preset=preset, output_dir=output, progress=False)
                started = time.perf_counter()
                render_album(collect_tracks([source]).tracks, settings, model)
                if attempt:
                    times[label].append(time.perf_counter() - started)
                shutil.rmtree(output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with_model, without = min(times["model"]), min(times["no model"])
    ratio = with_model / without
    spread = ", ".join(
        f"{m:.2f}/{n:.2f}" for m, n in zip(times["model"], times["no model"], strict=True)
    )
    print(
        f"\nrender, stadium preset, {duration_s:.0f} s track: bundled model {with_model:.2f} s, "
        f"--no-model {without:.2f} s, ratio {ratio:.2f} (target <= {TARGET_MODEL_RENDER_RATIO})"
    )
    return [
        row(
            "render with the bundled model / --no-model (stadium, 2 cores)",
            ratio,
            "x time",
            TARGET_MODEL_RENDER_RATIO,
            higher_is_better=False,
            note=f"best of {RENDER_REPEATS}, model/no-model s: {spread}; load {_load()}",
        )
    ]


def run(quick: bool = False) -> list[dict]:
    """Run the benchmark and return result rows (`common.row`: benchmark, value, target, ...)."""
    rows = render_ratio_rows(quick)
    return rows + full_size_rows(quick)


# One table's rows, measured in one run and read top to bottom like the table they fill.
def full_size_rows(quick: bool = False) -> list[dict]:  # noqa: PLR0915
    """The full-size model with random weights: per window, and as a LiveModel stage."""
    import onnxruntime
    import torch

    from liveify.cores import physical_cores
    from liveify.export import export_onnx
    from liveify.export.onnx import music_like_window
    from liveify.mel import MelConfig
    from liveify.model import LiveifyModel, ModelConfig, flops_per_window
    from liveify.plugins.model_stage import LiveModel
    from liveify.windows import window_hop

    rows: list[dict] = []
    repeats = 3 if quick else 7
    threads = physical_cores()
    print(f"{machine()}; ORT threads {threads}, torch threads {torch.get_num_threads()}")
    print(f"load average before: {_load()} (other work on the machine slows every number)")

    config, mel_config = ModelConfig(), MelConfig()
    torch.manual_seed(0)
    model = LiveifyModel(config).eval()
    workdir = Path(tempfile.mkdtemp(prefix="liveify-bench-"))
    onnx_path = workdir / "model.onnx"
    report = export_onnx(model, onnx_path, mel_config=mel_config)
    print(f"export: {report}")
    rows.append(
        row(
            "ONNX export, full-size model (legacy exporter)",
            report.export_seconds,
            "s",
            None,
            note=f"parity max abs error {report.max_abs_error:.1e}",
        )
    )

    window_s = config.context_frames * mel_config.frame_duration_s
    hop_s = window_hop(config.context_frames, 0.5) * mel_config.frame_duration_s
    windows = np.stack(
        [
            music_like_window(mel_config, config.context_frames)[np.newaxis],
            np.random.default_rng(0).uniform(-1, 1, (1, 128, config.context_frames)),
        ]
    ).astype(np.float32)
    batch = windows[:1]

    def ort_session(level="ORT_ENABLE_ALL", intra_threads=threads, path=onnx_path):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, level)
        options.intra_op_num_threads = intra_threads
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    session = ort_session()

    def torch_window():
        with torch.inference_mode():
            model(torch.from_numpy(batch))

    def ort_window():
        session.run(None, {"mel": batch})

    for _ in range(2):  # warm-up: allocator arenas, lazy kernels
        torch_window()
        ort_window()
    # Interleave so both see the same background load, with a pause before each call: ORT's
    # pool threads spin after a run and OpenMP's after a parallel region, so back to back each
    # runtime steals cores from the other (measured: torch eager ~30 ms slower per window).
    torch_times, ort_times = [], []
    for _ in range(repeats):
        time.sleep(PAUSE_S)
        torch_times.append(_median_seconds(torch_window, 1))
        time.sleep(PAUSE_S)
        ort_times.append(_median_seconds(ort_window, 1))
    torch_s, ort_s = statistics.median(torch_times), statistics.median(ort_times)
    gflop = flops_per_window(config) / 1e9
    print(f"\nper window ({config.context_frames} frames = {window_s:.1f} s, {gflop:.1f} GFLOP)")
    print(f"  torch eager  {torch_s * 1e3:7.1f} ms  {gflop / torch_s:5.1f} GFLOP/s")
    print(f"  ORT CPU      {ort_s * 1e3:7.1f} ms  {gflop / ort_s:5.1f} GFLOP/s")
    ratio = torch_s / ort_s
    verdict = "PASS" if ratio >= TARGET_ORT_OVER_TORCH else "MISS"
    print(f"  ORT / torch speed ratio {ratio:.2f}x (target >= {TARGET_ORT_OVER_TORCH}x) {verdict}")
    print(
        f"  model-only real time at 50 % overlap: torch {hop_s / torch_s:.1f}x, "
        f"ORT {hop_s / ort_s:.1f}x"
    )
    rows += [
        row("torch eager per window, CPU", torch_s * 1e3, "ms", None),
        row("ORT per window, CPU", ort_s * 1e3, "ms", None),
        row("ORT speed / torch eager speed", ratio, "x", TARGET_ORT_OVER_TORCH),
        row("model only, ORT, overlap 0.5", hop_s / ort_s, "x real time", None),
    ]

    if not quick:
        print("\nORT knobs (per window, batch 1 unless noted)")
        unfused_path = workdir / "unfused.onnx"
        export_onnx(model, unfused_path, mel_config=mel_config, fused_attention=False, check=False)
        for label, level, intra, path in (
            ("graph opt BASIC", "ORT_ENABLE_BASIC", threads, onnx_path),
            ("graph opt EXTENDED", "ORT_ENABLE_EXTENDED", threads, onnx_path),
            ("1 intra-op thread", "ORT_ENABLE_ALL", 1, onnx_path),
            ("unfused SDPA attention", "ORT_ENABLE_ALL", threads, unfused_path),
        ):
            knob_session = ort_session(level, intra, path)
            knob_session.run(None, {"mel": batch})
            time.sleep(PAUSE_S)
            seconds = _median_seconds(lambda s=knob_session: s.run(None, {"mel": batch}), 3)
            print(f"  {label:22s} {seconds * 1e3:7.1f} ms")
            rows.append(row(f"ORT per window, {label}", seconds * 1e3, "ms", None))
        seconds = _median_seconds(lambda: session.run(None, {"mel": windows}), 3) / 2
        print(f"  {'batch 2':22s} {seconds * 1e3:7.1f} ms per window")
        rows.append(row("ORT per window, batch 2", seconds * 1e3, "ms", None))
        del knob_session

    track_s = 60.0 if quick else 180.0
    sample_rate = 44100
    track = synthetic_track(track_s, sample_rate)
    settings = [("overlap 0.5, batch 4", {"overlap": 0.5, "batch_size": 4})]
    if not quick:
        settings.append(("overlap 0.25, batch 4", {"overlap": 0.25, "batch_size": 4}))
    print(f"\nLiveModel on a {track_s / 60:.0f}-minute stereo 44.1 kHz track (flush included)")
    for label, kwargs in settings:
        stage = LiveModel(onnx_path, **kwargs)
        stage(track[:, : sample_rate * 2], sample_rate)  # warm-up: soxr/ORT first calls
        model_seconds = []
        run_windows = stage._run

        def timed_run(batch_windows, run_windows=run_windows, model_seconds=model_seconds):
            started = time.perf_counter()
            result = run_windows(batch_windows)
            model_seconds.append(time.perf_counter() - started)
            return result

        stage._run = timed_run
        model_seconds.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        output = stage(track, sample_rate)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        assert output.shape == track.shape and np.all(np.isfinite(output))
        realtime = track_s / seconds
        verdict = "PASS" if realtime >= TARGET_STAGE_REALTIME else "MISS"
        model_part = sum(model_seconds)
        print(
            f"  {label:22s} {seconds:6.1f} s = {realtime:5.1f}x real time "
            f"(target >= {TARGET_STAGE_REALTIME:.0f}x) {verdict}; model {model_part:.1f} s, "
            f"analysis + reconstruction {seconds - model_part:.1f} s; "
            f"latency {stage.latency_samples_at(sample_rate) / sample_rate:.1f} s"
        )
        # CPU seconds of this process (all threads) bound what 2 idle cores would achieve:
        # wall time on an idle machine lies between cpu_seconds / 2 and cpu_seconds.
        print(
            f"  {'':22s} CPU time {cpu_seconds:.1f} s: on idle cores at least "
            f"{track_s / cpu_seconds:.1f}x real time, at most {2 * track_s / cpu_seconds:.1f}x"
        )
        rows.append(
            row(
                f"LiveModel stage, {track_s / 60:.0f} min stereo 44.1 kHz, {label}",
                realtime,
                "x real time",
                TARGET_STAGE_REALTIME,
                note=f"model {model_part:.1f} s of {seconds:.1f} s; load {_load()}",
            )
        )
        rows.append(
            row(
                f"LiveModel stage, {label}, idle-core lower bound (audio s / CPU s)",
                track_s / cpu_seconds,
                "x real time",
                TARGET_STAGE_REALTIME,
                note=f"{cpu_seconds:.1f} CPU s",
            )
        )
    print(f"\nload average after: {_load()}")
    print("CUDA: no GPU on this machine; run with onnxruntime-gpu for batched CUDA numbers.")
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 60 s track")
    parser.add_argument(
        "--render-only", action="store_true", help="only the model / --no-model render ratio"
    )
    args = parser.parse_args()
    print()
    print_rows(render_ratio_rows(args.quick) if args.render_only else run(quick=args.quick))


if __name__ == "__main__":
    main()
