"""No-harm check of the model stage on real recordings: top octave, resonances, gating per track.

Runs `LiveModel` alone (whole-track call, output aligned with the input) on every audio file of a
folder and prints `liveify.no_harm`'s figures against DESIGN.md's targets: level change above
11.5 kHz within 3 dB, 1/12-octave transfer within 3 dB of its 1/3-octave smoothing (100 Hz-10 kHz),
gating (median over 1/3-octave bands of the sd of out-minus-in level over 100 ms frames) <= 2 dB.
Recordings never ship with the repository, so this is not part of `run.py`'s suite.

    python benchmarks/real_music.py ~/Music/album/                      # the bundled model
    python benchmarks/real_music.py album/ --model model.onnx --strength 0.5 --json out.json
    python benchmarks/real_music.py album/ --seconds 60 --figures figures/   # spectrogram PNGs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liveify.audio import read_audio
from liveify.errors import LiveifyError
from liveify.no_harm import no_harm


def spectrogram_figure(before, after, sample_rate, title, path: Path) -> None:
    """Input, output and output-minus-input spectrograms (dB) of the first channel, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import spectrogram

    def level_db(signal):
        frequencies, times, power = spectrogram(
            signal.mean(axis=0), fs=sample_rate, nperseg=2048, noverlap=1024
        )
        return frequencies, times, 10 * np.log10(power + 1e-14)

    frequencies, times, before_db = level_db(before)
    _, _, after_db = level_db(after)
    figure, axes = plt.subplots(3, 1, figsize=(12, 10), sharex=True)
    top = before_db.max()
    panels = [
        (before_db, "input (dB)", dict(vmin=top - 90, vmax=top, cmap="magma")),
        (after_db, "model stage output (dB)", dict(vmin=top - 90, vmax=top, cmap="magma")),
        (after_db - before_db, "output - input (dB)", dict(vmin=-12, vmax=12, cmap="coolwarm")),
    ]
    for axis, (values, label, style) in zip(axes, panels, strict=True):
        mesh = axis.pcolormesh(times, frequencies, values, shading="auto", **style)
        axis.set_yscale("symlog", linthresh=500)
        axis.set_ylim(40, sample_rate / 2)
        axis.set_ylabel("Hz")
        axis.set_title(label)
        figure.colorbar(mesh, ax=axis)
    axes[-1].set_xlabel("s")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def measure_folder(
    folder: Path,
    model_path: Path,
    *,
    strength: float = 1.0,
    seconds: float | None = None,
    figures: Path | None = None,
) -> list[dict]:
    from liveify.plugins.model_stage import LiveModel

    stage = LiveModel(model_path, strength=strength)
    results = []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        try:
            audio, sample_rate = read_audio(path)
        except LiveifyError as error:
            print(f"skipped {path.name}: {error}")
            continue
        if seconds is not None:
            audio = audio[:, : int(seconds * sample_rate)]
        started = time.perf_counter()
        processed = stage(audio, sample_rate)
        elapsed = time.perf_counter() - started
        figures_ = no_harm(audio, processed, sample_rate)
        duration_s = audio.shape[1] / sample_rate
        results.append(
            {
                "track": path.name,
                "sample_rate": sample_rate,
                "duration_s": round(duration_s, 1),
                "x_real_time": round(duration_s / elapsed, 1),
                **{
                    key: None if v is None else round(v, 2) for key, v in figures_.to_dict().items()
                },
                "passes": figures_.passes(),
            }
        )
        print(_line(results[-1]), flush=True)
        if figures is not None:
            figures.mkdir(parents=True, exist_ok=True)
            spectrogram_figure(
                audio, processed, sample_rate, f"{path.name}: {model_path.name}",
                figures / f"{path.stem}.png",
            )  # fmt: skip
    return results


def _line(result: dict) -> str:
    top = result["top_octave_change_db"]
    return (
        f"{result['track'][:34]:34s} {'n/a' if top is None else f'{top:+.2f}':>7s} "
        f"{result['resonance_db']:6.2f} {result['gating_db']:6.2f}  "
        f"{'PASS' if result['passes'] else 'MISS':4s}  {result['x_real_time']:6.1f}x"
    )


def main() -> None:
    from liveify.render import BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, help="Measure only the first SECONDS per track.")
    parser.add_argument("--figures", type=Path, help="Write input/output spectrogram PNGs here.")
    parser.add_argument("--json", type=Path, help="Also write the results as JSON.")
    args = parser.parse_args()
    print(f"model {args.model} (strength {args.strength:g}) on {args.folder}")
    print(f"{'track':34s} {'a >11.5k':>7s} {'b res':>6s} {'c gate':>6s}  (|a|<=3, b<=3, c<=2 dB)")
    results = measure_folder(
        args.folder, args.model, strength=args.strength, seconds=args.seconds, figures=args.figures
    )
    tops = [r["top_octave_change_db"] for r in results if r["top_octave_change_db"] is not None]
    print(
        f"{'mean':34s} {np.mean(tops) if tops else float('nan'):+7.2f} "
        f"{np.mean([r['resonance_db'] for r in results]):6.2f} "
        f"{np.mean([r['gating_db'] for r in results]):6.2f}  "
        f"{sum(r['passes'] for r in results)}/{len(results)} pass"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
