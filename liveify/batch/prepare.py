"""`liveify prepare`: the training alignment cache filled in parallel, one task per song pair.

Each task runs the pair through `liveify.data.dataset.prepare_pair`, the same code `liveify
train` prepares its data with, into the same content-keyed cache (`.npz` files written
atomically): `train` afterwards, on one node or many, finds every pair ready. Pairs are not
judged here (alignment cost, lyrics): `train` judges cached pairs by its own limits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from liveify.batch.engine import EngineOptions, run_tasks

logger = logging.getLogger(__name__)

#: The lock that lets only one process at a time compile (or load) librosa's numba kernels.
JIT_LOCK_NAME = ".liveify-jit.lock"
_compiled_in_this_process = False


@dataclass(frozen=True)
class PrepareOptions:
    """The settings that key the cache: pass the values `liveify train` will be given."""

    cache_dir: str | None = None
    n_mels: int = 128
    context_length: int = 64

    def configs(self):
        from liveify.data.align import AlignConfig
        from liveify.mel import MelConfig

        return MelConfig(n_mels=self.n_mels, context_length=self.context_length), AlignConfig()


@dataclass(frozen=True)
class PairJob:
    pair: tuple  # liveify.data.pairing.Pair (studio, live, key)
    options: PrepareOptions


@dataclass
class PairOutcome:
    """One pair's line in the summary: prepared now, found cached, or failed (with why)."""

    pair: str
    status: str = "failed"  # prepared | cached | failed
    align_cost: float | None = None
    seconds: float = 0.0
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


def _compile_alignment_once(cache_folder: Path, mel_config, align_config) -> None:
    """Import librosa and run a tiny alignment once per process, one process at a time.

    librosa's numba kernels are compiled into a shared on-disk cache (cache=True) on first use,
    and processes compiling them at the same moment can corrupt it for good (numba #10128,
    librosa #1998): parallel workers take turns here, so only the first compiles and the rest
    load its results. The lock sits in the pair cache, which every worker of a run shares.
    """
    global _compiled_in_this_process
    if _compiled_in_this_process:
        return
    import numpy as np

    from liveify.data.align import align_features, analyse
    from liveify.files import exclusive_lock

    with exclusive_lock(cache_folder / JIT_LOCK_NAME):
        noise = np.random.default_rng(0).standard_normal(2 * mel_config.sample_rate)
        _, features = analyse((0.1 * noise).astype(np.float32), mel_config)
        align_features(features, features, mel_config, align_config)
    _compiled_in_this_process = True


def prepare_pair_task(job: PairJob, attempt: int) -> PairOutcome:
    """Align one pair into the cache in this (worker) process, or find it there."""
    from liveify.data.dataset import pair_cache, prepare_pair
    from liveify.data.pairing import Pair
    from liveify.errors import AudioFileError, DataError

    pair = Pair(*job.pair)
    outcome = PairOutcome(pair.key)
    started = time.perf_counter()
    mel_config, align_config = job.options.configs()
    cache = pair_cache(job.options.cache_dir)
    try:
        _compile_alignment_once(cache.cache_dir, mel_config, align_config)
        song = prepare_pair(pair, cache, mel_config=mel_config, align_config=align_config)
    except (AudioFileError, DataError) as error:
        outcome.errors.append(str(error))
    else:
        outcome.status = "cached" if cache.hits else "prepared"
        outcome.align_cost = round(float(song.align_cost), 4)
    outcome.seconds = round(time.perf_counter() - started, 3)
    return outcome


def run_prepare(
    studio_dir: Path,
    live_dir: Path,
    options: PrepareOptions,
    engine: EngineOptions,
    *,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> list[PairOutcome]:
    """Pair the two folders (as `train` does) and prepare every pair, or this shard's share of
    them, on `engine`; returns one outcome per pair in pairing order."""
    from tqdm.auto import tqdm

    from liveify.data.pairing import pair_or_fail

    options.configs()  # bad mel settings fail here, once, before any task
    pairs = pair_or_fail(studio_dir, live_dir).pairs
    if shard:
        index, count = shard
        pairs = pairs[index::count]  # pairs come sorted by song key: a stable partition
    tasks = [(pair.key, PairJob(tuple(pair), options)) for pair in pairs]
    outcomes: dict[str, PairOutcome] = {}
    with tqdm(total=len(tasks), unit="song", desc="pairs", disable=not progress) as bar:
        for finished in run_tasks(prepare_pair_task, tasks, engine):
            outcome = finished.value or PairOutcome(finished.key)
            outcome.errors = [*finished.errors, *outcome.errors]
            outcome.attempts = finished.attempts
            if outcome.status == "failed":
                logger.error("pair %s failed: %s", outcome.pair, outcome.errors[-1])
            outcomes[finished.key] = outcome
            bar.update(1)
    return [outcomes[pair.key] for pair in pairs]


def prepare_summary(outcomes: list[PairOutcome]) -> list[str]:
    """One line per pair, then the totals."""
    lines = []
    for outcome in outcomes:
        cost = "" if outcome.align_cost is None else f"  align cost {outcome.align_cost:.3f}"
        error = f"  {outcome.errors[-1]}" if outcome.status == "failed" else ""
        lines.append(f"  {outcome.status:8s} {outcome.pair}{cost}{error}")
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("prepared", "cached", "failed")}  # fmt: skip
    lines.append(f"{len(outcomes)} pairs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return lines
