"""`evaluate`: pair and align songs, render every row, measure it against the live recording and
write report.json, report.md and the figures."""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from liveify.errors import DataError, LiveifyError, ParameterError
from liveify.evaluate.figures import plot_metric_bars, plot_song_mels
from liveify.evaluate.metrics import METRICS, analysis_mel_power, compare
from liveify.evaluate.report import format_markdown, group_title, json_number, summarise
from liveify.evaluate.rows import ROW_LABELS, ROWS, render_live, render_row
from liveify.evaluate.timewarp import TimeWarp, columns_at
from liveify.evaluate.training_split import training_songs
from liveify.files import write_text_atomic
from liveify.mel import MelConfig

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from liveify.plugins.model_stage import LiveModel
    from liveify.presets import Preset


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")[:60] or "song"


# One keyword per option of `liveify eval` (the Python API mirrors the command line).
def evaluate(  # noqa: PLR0913
    studio_dir: str | Path,
    live_dir: str | Path,
    output_dir: str | Path,
    *,
    model_path: str | Path | None = None,
    preset: str = "stadium",
    use_model: bool = True,
    model_strength: float | None = None,
    checkpoint_path: str | Path | None = None,
    max_align_cost: float | None = None,
    seed: int = 0,
    match_loudness: bool = True,
    figures: bool = True,
    progress: bool = True,
    device: str = "auto",
) -> dict:
    """Evaluate every paired song of `studio_dir` / `live_dir` and write the report.

    Songs are paired and aligned exactly as for training (`pair_recordings`, chroma + onset DTW
    with the model's mel settings, the same alignment-cost limit). Each song is rendered as the
    rows identity, DSP-only preset and, with a model, model only and model + preset (the preset
    rows as `liveify render` makes them: the same recipe and mastering, cut to the song's span),
    and every row is compared with the live recording by `compare`.

    Parameters
    ----------
    output_dir : receives `report.json`, `report.md` and `figures/*.png`.
    model_path : ONNX model; None uses the bundled model when the preset asks for one.
    use_model : False drops the model rows.
    model_strength : 0-1, how much of the model's change to apply (default: the preset's).
    checkpoint_path : training checkpoint that says which songs were trained on, for ONNX files
        whose metadata does not.
    max_align_cost : reject pairs whose mean DTW cost is higher (default: training's limit).
    seed : seed of the preset's random stages (each song's seed as `liveify render` derives it).
    match_loudness : see `compare`.
    device : where the model stage runs (auto | cpu | cuda | cuda:N), as for `liveify render`;
        the provider used is in the report (`model_provider`).

    Rejected pairs and unmatched files are logged (INFO, `liveify.evaluate`, `liveify.data`).

    Returns
    -------
    The report dict (also written as report.json).
    """
    from tqdm import tqdm

    from liveify.data.pairing import pair_or_fail

    setup = _setup(
        preset,
        model_path=model_path,
        use_model=use_model,
        model_strength=model_strength,
        checkpoint_path=checkpoint_path,
        max_align_cost=max_align_cost,
        seed=seed,
        match_loudness=match_loudness,
        device=device,
    )
    output_dir = Path(output_dir)
    pairing = pair_or_fail(studio_dir, live_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    figure_dir = output_dir / "figures"
    songs, rejected, figure_paths = [], [], []
    bar = tqdm(pairing.pairs, desc="Evaluating", unit="song", disable=not progress, file=sys.stderr)
    for index, pair in enumerate(bar):
        bar.set_postfix_str(pair.key[:30])
        try:
            live_frame, cost = _align(pair, setup)
        except LiveifyError as error:
            rejected.append({"song": pair.key, "reason": str(error)})
            logger.info("rejected %s: %s", pair.key, error)
            continue
        figure = figure_dir / f"{index + 1:02d}-{_slug(pair.key)}.png" if figures else None
        songs.append(_evaluate_song(pair, live_frame, cost, setup, figure=figure))
        if figure is not None:
            songs[-1]["figure"] = str(figure.relative_to(output_dir))
            figure_paths.append(figure)
    if not songs:
        details = "; ".join(f"{item['song']}: {item['reason']}" for item in rejected[:5])
        raise DataError(f"all {len(rejected)} song pairs were rejected ({details})")

    import liveify

    summary = summarise(songs, setup.rows)
    report = {
        "liveify_version": liveify.__version__,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "studio_dir": str(studio_dir),
        "live_dir": str(live_dir),
        "model": str(setup.model) if setup.model is not None else None,
        "model_note": setup.model_note,
        "model_provider": setup.live_model.provider if setup.live_model is not None else None,
        "preset": setup.preset.name,
        "training_split_known": setup.trained is not None,
        "match_loudness": match_loudness,
        "mel_config": setup.mel_config.to_dict(),
        "rows": setup.rows,
        "metrics": {
            name: {"unit": unit, "meaning": text} for name, (unit, text) in METRICS.items()
        },
        "songs": songs,
        "summary": summary,
        "rejected": rejected,
        "unmatched_studio": [str(path) for path in pairing.unmatched_studio],
        "unmatched_live": [str(path) for path in pairing.unmatched_live],
    }
    if figures:
        chart = figure_dir / "metrics.png"
        group = "held_out" if summary["held_out"]["songs"] else "all"
        plot_metric_bars(
            chart, summary[group]["rows"], setup.rows, title=group_title(summary, group)
        )
        report["figures"] = [str(path.relative_to(output_dir)) for path in [chart, *figure_paths]]
    write_text_atomic(output_dir / "report.json", json.dumps(report, indent=1) + "\n")
    write_text_atomic(output_dir / "report.md", format_markdown(report))
    return report


@dataclass(frozen=True)
class _Setup:
    """What every song of one evaluation is rendered and measured with."""

    preset: Preset
    model: Path | None
    model_note: str
    live_model: LiveModel | None
    mel_config: MelConfig
    rows: list[str]
    trained: set[str] | None
    seed: int
    match_loudness: bool
    max_align_cost: float


# The evaluation's own options, checked and resolved in one place before any song.
def _setup(preset: str, *, model_path, use_model, model_strength, checkpoint_path,  # noqa: PLR0913
           max_align_cost, seed, match_loudness, device) -> _Setup:  # fmt: skip
    """Load the preset and the model (as `liveify render` resolves it) and check the options."""
    from liveify.data.dataset import DEFAULT_MAX_ALIGN_COST
    from liveify.render import load_render_preset, resolve_model

    loaded_preset = load_render_preset(preset, model_strength)
    choice = resolve_model(
        Path(model_path) if model_path is not None else None, use_model, loaded_preset
    )
    max_align_cost = DEFAULT_MAX_ALIGN_COST if max_align_cost is None else float(max_align_cost)
    if max_align_cost <= 0:
        raise ParameterError(f"max_align_cost must be > 0; got {max_align_cost}")
    live_model = None
    mel_config = MelConfig()
    if choice.path is not None:
        from liveify.model_file import log_device
        from liveify.plugins.model_stage import LiveModel

        live_model = LiveModel(
            choice.path,
            device=device,
            strength=loaded_preset.model_strength,
            max_gain_db=loaded_preset.model_max_gain_db,
        )
        mel_config = live_model.mel_config
        log_device(logger, live_model.provider, live_model.device_notice)
    return _Setup(
        preset=loaded_preset,
        model=choice.path,
        model_note=choice.note,
        live_model=live_model,
        mel_config=mel_config,
        rows=list(ROWS if live_model is not None else ROWS[:2]),
        trained=training_songs(choice.path, Path(checkpoint_path) if checkpoint_path else None),
        seed=seed,
        match_loudness=match_loudness,
        max_align_cost=max_align_cost,
    )


def _align(pair, setup: _Setup) -> tuple[np.ndarray, float]:
    """The live mel frame of every studio mel frame of `pair`, and the alignment's cost; a
    LiveifyError names why a pair that cannot be aligned well enough is rejected."""
    from liveify.data.align import align_recordings

    alignment = align_recordings(pair.studio, pair.live, mel_config=setup.mel_config).alignment
    if alignment.cost > setup.max_align_cost:
        raise DataError(
            f"alignment cost {alignment.cost:.3f} is above --max-align-cost "
            f"{setup.max_align_cost:g}"
        )
    return alignment.live_frame, alignment.cost


def _evaluate_song(pair, live_frame, cost: float, setup: _Setup, *, figure: Path | None) -> dict:
    """Render every row of one aligned song, measure it against the live take and draw its
    figure; returns the song's report entry."""
    from liveify.audio import read_audio, to_stereo
    from liveify.render.plan import track_seed

    studio, rate = read_audio(pair.studio)
    studio = to_stereo(studio)
    live, _ = read_audio(pair.live, sample_rate=rate)
    time_warp = TimeWarp.from_live_frames(live_frame, setup.mel_config)

    rendered = {"identity": studio}
    song_seed = track_seed(setup.seed, pair.studio)
    rendered["dsp"] = render_live(studio, rate, setup.preset, seed=song_seed)
    if setup.live_model is not None:
        rendered["model"] = render_row(setup.live_model, studio, rate)
        rendered["model+preset"] = render_live(
            studio, rate, setup.preset, seed=song_seed, model=setup.live_model
        )

    metrics = {
        row: {
            name: json_number(value)
            for name, value in compare(
                live,
                rendered[row],
                rate,
                time_warp=time_warp,
                mel_config=setup.mel_config,
                match_loudness=setup.match_loudness,
            ).items()
        }
        for row in setup.rows
    }
    if figure is not None:
        predicted_row = "model+preset" if setup.live_model is not None else "dsp"
        mel_config = setup.mel_config
        plot_song_mels(
            figure,
            title=pair.key,
            studio=analysis_mel_power(studio, rate, mel_config),
            predicted=analysis_mel_power(rendered[predicted_row], rate, mel_config),
            live=columns_at(analysis_mel_power(live, rate, mel_config), live_frame),
            predicted_label=ROW_LABELS[predicted_row],
            mel_config=mel_config,
        )
    return {
        "song": pair.key,
        "studio": str(pair.studio),
        "live": str(pair.live),
        "in_training": None if setup.trained is None else pair.key in setup.trained,
        "alignment_cost": round(cost, 4),
        "duration_s": round(studio.shape[1] / rate, 3),
        "rows": metrics,
    }
