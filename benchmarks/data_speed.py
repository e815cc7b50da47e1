"""Training-data speed: DTW alignment seconds per 4-minute studio/live pair, and how much faster
`prepare_pairs` reloads aligned pairs from its cache than it prepared them (paired medians).

Uses a synthetic demo pair (`make_demo_data`). librosa's lazy imports and numba JIT are warmed on
a short pair first, so the figure is the steady per-pair cost of a training-data run.
Targets (DESIGN.md): alignment < 5 s per 4-minute pair on CPU; cache reload >= 100x faster.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from common import print_rows, row, timed

TARGET_ALIGN_S = 5.0
TARGET_RELOAD_SPEEDUP = 100.0


def _pair(folder: Path) -> tuple[Path, Path]:
    studio = next(p for p in sorted((folder / "studio").iterdir()) if p.suffix == ".wav")
    live = next(p for p in sorted((folder / "live").iterdir()) if p.suffix == ".wav")
    return studio, live


def run(quick: bool = False) -> list[dict]:
    from liveify.data.align import align_recordings
    from liveify.data.dataset import prepare_pairs
    from liveify.demo import make_demo_data
    from liveify.mel import MelConfig

    duration_s = 60.0 if quick else 240.0
    repeats = 1 if quick else 3
    mel_config = MelConfig()
    work = Path(tempfile.mkdtemp(prefix="liveify-bench-data-"))
    try:
        make_demo_data(work / "warmup", songs=1, duration_s=10.0, seed=1)
        align_recordings(*_pair(work / "warmup"), mel_config=mel_config)  # JIT, lazy imports

        make_demo_data(work / "pair", songs=1, duration_s=duration_s, seed=0)
        studio, live = _pair(work / "pair")
        align_seconds = min(
            timed(align_recordings, studio, live, mel_config=mel_config)[0] for _ in range(repeats)
        )
        per_4_minutes = align_seconds * 240.0 / duration_s

        def prepare(cache_dir: Path):
            return prepare_pairs(
                work / "pair" / "studio",
                work / "pair" / "live",
                mel_config=mel_config,
                cache_dir=cache_dir,
                progress=False,
            )

        # Paired rounds (a fresh cache each: hashing, alignment, save; then reloads), medians of
        # each: other people's jobs on a shared machine slow both sides of a round alike.
        firsts_s, reloads_s = [], []
        for round_index in range(repeats):
            cache_dir = work / f"cache-{round_index}"
            first_s, first = timed(prepare, cache_dir)
            reload_s = statistics.median(timed(prepare, cache_dir)[0] for _ in range(5))
            _, again = timed(prepare, cache_dir)
            if again.cache_hits != 1 or first.cache_misses != 1:
                raise RuntimeError(
                    f"cache did not behave: first run {first.cache_misses} misses, "
                    f"reload {again.cache_hits} hits"
                )
            firsts_s.append(first_s)
            reloads_s.append(reload_s)
        entry_mb = sum(p.stat().st_size for p in cache_dir.glob("pairs/pair-*.npz")) / 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scaled = "" if duration_s == 240 else f", scaled from a {duration_s:.0f} s pair"
    return [
        row(
            "alignment per 4-minute pair (DTW, CPU)",
            per_4_minutes,
            "s",
            TARGET_ALIGN_S,
            higher_is_better=False,
            note=f"read + mel + chroma/onset + DTW + warp, after JIT warm-up, best of {repeats}"
            + scaled,
        ),
        row(
            "cache reload speed-up (prepare_pairs)",
            statistics.median(
                first / reload for first, reload in zip(firsts_s, reloads_s, strict=True)
            ),
            "x faster",
            TARGET_RELOAD_SPEEDUP,
            note=f"first {statistics.median(firsts_s):.2f} s, reload "
            f"{1000 * statistics.median(reloads_s):.1f} ms, medians of {repeats} paired rounds "
            f"({duration_s:.0f} s pair, {entry_mb:.1f} MB entry)",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 1-minute pair instead of 4")
    print_rows(run(quick=parser.parse_args().quick))
