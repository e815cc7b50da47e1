"""The evaluation report: per-row means over song groups, and report.md's tables."""

from __future__ import annotations

import numpy as np

from liveify.evaluate.metrics import METRICS, SIGNED_METRICS
from liveify.evaluate.rows import ROW_LABELS


def json_number(value: float):
    """`value` rounded to 4 decimals for report.json; None for missing, NaN or infinite."""
    return round(float(value), 4) if value is not None and np.isfinite(value) else None


def summarise(songs: list[dict], rows: list[str]) -> dict:
    """Per-row means over all songs, held-out songs and training songs (|x| for signed metrics)."""
    groups = {
        "all": songs,
        "held_out": [song for song in songs if song["in_training"] is False],
        "in_training": [song for song in songs if song["in_training"] is True],
    }
    summary = {}
    for group, members in groups.items():
        means = {}
        for row in rows:
            means[row] = {}
            for metric in METRICS:
                values = [song["rows"][row][metric] for song in members]
                values = [
                    abs(v) if metric in SIGNED_METRICS else v for v in values if v is not None
                ]
                means[row][metric] = json_number(np.mean(values)) if values else None
        summary[group] = {"songs": [song["song"] for song in members], "rows": means}
    return summary


def group_title(summary: dict, group: str) -> str:
    count = len(summary[group]["songs"])
    names = {"all": "all songs", "held_out": "held-out songs", "in_training": "training songs"}
    return f"mean over {names[group]} (n={count})"


def _header(signed_as_absolute: bool) -> str:
    cells = []
    for name, (unit, _) in METRICS.items():
        label = {
            "log_mel_l1_db": "log-mel L1",
            "mrstft": "MR-STFT",
            "loudness_diff_lu": "Δ loudness",
            "centroid_diff_hz": "Δ centroid",
            "bandwidth_diff_hz": "Δ bandwidth",
        }[name]
        if signed_as_absolute and name in SIGNED_METRICS:
            label = f"{label}, abs"
        cells.append(f"{label} ({unit})" if unit else label)
    return "| row | " + " | ".join(cells) + " |\n|---|" + "---:|" * len(cells) + "\n"


def _table(values_by_row: dict, rows: list[str], *, signed_as_absolute: bool) -> str:
    lines = [_header(signed_as_absolute)]
    for row in rows:
        cells = []
        for name in METRICS:
            value = values_by_row[row][name]
            digits = 0 if name.endswith("_hz") else 3 if name == "mrstft" else 2
            cells.append("n/a" if value is None else f"{value:.{digits}f}")
        lines.append(f"| {ROW_LABELS[row]} | " + " | ".join(cells) + " |\n")
    return "".join(lines)


def format_markdown(report: dict) -> str:
    """report.md: the held-out means first, then every song's table (rows x metrics)."""
    rows, summary = report["rows"], report["summary"]
    lines = [
        "# Liveify evaluation\n\n",
        f"- studio: `{report['studio_dir']}`, live: `{report['live_dir']}`\n",
        f"- preset: {report['preset']}; model: {report['model_note']}\n",
        f"- created {report['created']} with liveify {report['liveify_version']}\n",
        "- every metric is 0 for a perfect match; differences are row minus live, and means use "
        "their absolute values\n",
    ]
    if report["match_loudness"]:
        lines.append(
            "- log-mel L1 and MR-STFT are measured after matching each row's loudness to the "
            "live recording\n"
        )
    lines.append("\n")
    for name, (unit, meaning) in METRICS.items():
        lines.append(f"- `{name}`{f' ({unit})' if unit else ''}: {meaning}\n")
    groups = ["held_out", "in_training", "all"] if report["training_split_known"] else ["all"]
    for group in groups:
        if not summary[group]["songs"]:
            continue
        lines.append(f"\n## {group_title(summary, group).capitalize()}\n\n")
        lines.append(_table(summary[group]["rows"], rows, signed_as_absolute=True))
    if not report["training_split_known"]:
        lines.append(
            "\nThe model's training songs are unknown (no `train_songs` in its metadata), so no "
            "held-out mean is given.\n"
        )
    lines.append("\n## Per song\n")
    status = {True: "in training", False: "held out", None: "training split unknown"}
    for song in report["songs"]:
        lines.append(
            f"\n### {song['song']}\n\n{status[song['in_training']]}; {song['duration_s']:.1f} s; "
            f"alignment cost {song['alignment_cost']:.3f}\n\n"
        )
        lines.append(_table(song["rows"], rows, signed_as_absolute=False))
        if "figure" in song:
            lines.append(f"\n![{song['song']}]({song['figure']})\n")
    for item in report["rejected"]:
        lines.append(f"\nrejected {item['song']}: {item['reason']}\n")
    return "".join(lines)
