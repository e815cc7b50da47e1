"""`liveify batch`: a catalogue's albums planned here, rendered on an engine, reported.

>>> result = run_batch(Path("catalogue/"), Path("live/"), BatchRenderOptions(preset="club"),
...                    EngineOptions(engine="local", workers=4))
>>> result.failed  # albums that failed; batch-report.json has every album's row
[]
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from liveify.batch.album_task import (
    KILL_ALBUM_VARIABLE,
    AlbumJob,
    AlbumOutcome,
    BatchRenderOptions,
    album_recipe,
    new_outcome,
    render_album_job,
)
from liveify.batch.catalog import (
    CatalogueAlbum,
    check_output_root,
    read_catalogue,
    shard_albums,
)
from liveify.batch.engine import EngineOptions, run_tasks
from liveify.batch.report import BatchReport
from liveify.errors import LiveifyError

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """This run's albums (in catalogue order) and the merged batch report."""

    outcomes: list[AlbumOutcome]
    report: dict

    @property
    def failed(self) -> list[AlbumOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    @property
    def busy(self) -> list[AlbumOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "busy"]


class _Planner:
    """Decides, before any work is handed out, what each album needs: nothing (every output
    already made with these settings), a render task, or a failure (no tracks, a bad preset).
    Presets' model choices and model file digests are worked out once per batch."""

    def __init__(self, options: BatchRenderOptions, output_root: Path):
        self.options = options
        self.output_root = output_root
        self._models: dict[str, object] = {}
        self._digests: dict[Path, str] = {}

    def plan(
        self, album: CatalogueAlbum, *, kill_on_first_attempt: bool
    ) -> AlbumJob | AlbumOutcome:
        from liveify.audio import probe
        from liveify.render import collect_tracks, plan_outputs
        from liveify.render.plan import settings_id, settings_record
        from liveify.render.workspace import read_report

        output_dir = self.output_root / album.name
        outcome = new_outcome(album, output_dir, self.options)
        try:
            tracks = collect_tracks([album.source]).tracks
            settings, model = album_recipe(album, self.options, output_dir, self._model(album))
            record = settings_record(settings, self._digest(model))
            results = plan_outputs(tracks, settings, record, read_report(output_dir))
        except LiveifyError as error:
            outcome.status = "failed"
            outcome.errors.append(str(error))
            return outcome
        if all(result.status == "skipped" for result in results):
            outcome.status, outcome.tracks = "skipped", len(results)
            outcome.audio_s = round(sum(result.duration_s or 0.0 for result in results), 3)
            outcome.settings_id = settings_id(record)
            return outcome
        audio_s = 0.0
        for track in tracks:
            with contextlib.suppress(LiveifyError):  # an unreadable track is the render's to report
                audio_s += probe(track).duration_s
        return AlbumJob(album, output_dir, tuple(tracks), self.options, round(audio_s, 3),
                        kill_on_first_attempt)  # fmt: skip

    def _model(self, album: CatalogueAlbum):
        from liveify.presets import load_preset
        from liveify.render import resolve_model

        spec = album.preset or self.options.preset
        if spec not in self._models:
            path = Path(self.options.model_path) if self.options.model_path else None
            self._models[spec] = resolve_model(path, self.options.use_model, load_preset(spec))
        return self._models[spec]

    def _digest(self, model) -> str | None:
        if model.path is None:
            return None
        if model.path not in self._digests:
            self._digests[model.path] = model.sha256
        return self._digests[model.path]


def run_batch(
    catalogue_path: Path,
    output_root: Path,
    options: BatchRenderOptions,
    engine: EngineOptions,
    *,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> BatchResult:
    """Render every album of the catalogue (or of its shard) to OUTROOT/<album name>/.

    Albums are independent: a failing album is reported and the others go on. Returns this
    run's outcomes; OUTROOT/batch-report.json holds them merged with other shards' rows. The
    local engine spawns its workers as `multiprocessing` does: call this from a script under
    `if __name__ == "__main__":`.
    """
    from tqdm.auto import tqdm

    catalogue_path, output_root = Path(catalogue_path), Path(output_root)
    catalogue = read_catalogue(catalogue_path)
    check_output_root(catalogue_path, output_root)
    for path, why in catalogue.ignored:
        logger.info("not an album: %s (%s)", path, why)
    albums = shard_albums(catalogue.albums, *shard) if shard else catalogue.albums
    report = BatchReport(output_root, catalogue_path.resolve(),
                         [album.name for album in catalogue.albums], asdict(options))  # fmt: skip
    kill_name = os.environ.get(KILL_ALBUM_VARIABLE)
    planner = _Planner(options, output_root)
    planned = [planner.plan(album, kill_on_first_attempt=album.name == kill_name)
               for album in albums]  # fmt: skip
    jobs = {item.album.name: item for item in planned if isinstance(item, AlbumJob)}
    outcomes = {item.album: item for item in planned if isinstance(item, AlbumOutcome)}
    total_s = sum(item.audio_s for item in planned)
    bar = tqdm(total=round(total_s, 1), unit="s", desc="catalogue", disable=not progress,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")  # fmt: skip

    try:
        for outcome in outcomes.values():
            if outcome.status == "failed":
                logger.error("album %s failed: %s", outcome.album, outcome.errors[-1])
            bar.update(outcome.audio_s)
            report.add(outcome)
        skipped = sum(outcome.status == "skipped" for outcome in outcomes.values())
        if skipped:
            logger.info("%d of %d albums already rendered with these settings: skipped", skipped,
                        len(albums))  # fmt: skip
        # Longest albums first: the pool's last tasks are then short ones, and workers finish together.
        tasks = [(job.album.name, job) for job in sorted(jobs.values(), key=lambda j: -j.audio_s)]
        for finished in run_tasks(render_album_job, tasks, engine):
            job = jobs[finished.key]
            outcome = finished.value or new_outcome(job.album, job.output_dir, options)
            if finished.value is None:
                outcome.status, outcome.audio_s = "failed", job.audio_s
            outcome.errors = [*finished.errors, *outcome.errors]
            outcome.attempts = finished.attempts
            for line in outcome.log:
                logger.info("%s: %s", job.album.name, line)
            if outcome.status in ("failed", "busy"):
                logger.error("album %s %s: %s", job.album.name, outcome.status, outcome.errors[-1])
            outcomes[job.album.name] = outcome
            bar.update(job.audio_s)
            report.add(outcome)
    finally:
        bar.close()
        merged = report.write()
    order = {album.name: index for index, album in enumerate(albums)}
    return BatchResult(sorted(outcomes.values(), key=lambda o: order[o.album]), merged)
