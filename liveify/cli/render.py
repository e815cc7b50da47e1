"""`liveify render`, `liveify demo` and `liveify presets`: the render side, torch-free."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from liveify.cli.app import main, progress_option, show_progress
from liveify.cli.options import model_options, output_options


@main.command("render")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-p",
    "--preset",
    default="stadium",
    show_default=True,
    help="Bundled preset name (see `liveify presets list`) or a path to a .toml file.",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder. Default: <album>-live/ beside the album.",
)
@model_options
@output_options
@click.option(
    "--concert",
    "concert_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the whole set as one continuous file, crowd bridging the songs.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Tracks rendered in parallel.",
)
@click.option(
    "--force", is_flag=True, help="Re-render every track, even outputs made with these settings."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (the recipe stage by stage, each track's output and whether it is "
    "rendered or kept) and stop; writes nothing.",
)
@progress_option
def render_command(inputs, preset, output_dir, model_path, no_model, model_strength, device,
                   output_format, bit_depth, sample_rate, target_lufs, true_peak_ceiling_db,
                   no_limiter, seed, concert_path, jobs, force, dry_run, progress):  # fmt: skip
    """Render albums, files or .m3u playlists as live-concert versions.

    Tracks of a folder are taken in natural order ("2 x" before "10 x"); a playlist gives its
    own order; hidden files (".x", macOS "._x") are skipped. A rerun keeps the outputs made with
    the same settings (preset content, model, loudness, format, seed, input file; recorded in
    OUTDIR/report.json) and renders the rest again. A bad track is reported and the album goes
    on; the exit code is then 1.

    \b
    Examples:
      liveify render album/ --preset stadium
      liveify render album/ -p club -o club-night/ --format flac --bit-depth 16
      liveify render setlist.m3u --concert live-set.wav --jobs 2
      liveify render album/ --device cuda          # the model stage on the GPU
      liveify render song.wav --no-model --preset my-venue.toml --dry-run
    """
    from liveify.render import (
        RenderSettings,
        collect_tracks,
        default_output_dir,
        load_render_preset,
        resolve_model,
    )

    loaded_preset = load_render_preset(preset, model_strength)
    selection = collect_tracks(inputs)
    settings = RenderSettings(
        preset=loaded_preset,
        output_dir=output_dir or default_output_dir(inputs),
        output_format=output_format,
        bit_depth=bit_depth,
        sample_rate=sample_rate,
        target_lufs=target_lufs,
        true_peak_ceiling_db=true_peak_ceiling_db,
        limiter=not no_limiter,
        jobs=jobs,
        force=force,
        seed=seed,
        concert_path=concert_path,
        progress=show_progress(progress),
        device=device,
    )
    model = resolve_model(model_path, not no_model, loaded_preset)
    source = f" (from {loaded_preset.file})" if loaded_preset.file else ""
    click.echo(f"preset {loaded_preset.name}{source}: {loaded_preset.description}")
    click.echo(f"model: {model.note}")
    if dry_run:
        _print_plan(selection, settings, model)
        return
    from liveify.render import render_album

    report = render_album(selection.tracks, settings, model)
    print_summary(report, settings.output_dir)
    if any(track["status"] == "error" for track in report["tracks"]):
        sys.exit(1)


def _print_plan(selection, settings, model) -> None:
    """`render --dry-run`: the recipe, every track's fate, the ignored files; writes nothing."""
    from liveify.render.plan import plan_outputs, settings_id, settings_record
    from liveify.render.recipe import describe_chain
    from liveify.render.workspace import read_report

    for line in describe_chain(settings.preset, model, target_lufs=settings.target_lufs,
                               ceiling_db=settings.true_peak_ceiling_db,
                               limiter=settings.limiter):  # fmt: skip
        click.echo(line)
    record = settings_record(settings, model.sha256)
    results = plan_outputs(selection.tracks, settings, record, read_report(settings.output_dir))
    click.echo(f"tracks -> {settings.output_dir}/ (settings {settings_id(record)}):")
    for result in results:
        action = "keep" if result.status == "skipped" else "render"
        click.echo(f"  {action:6s} {result.input} -> {Path(result.output).name}  ({result.reason})")
    for path in selection.ignored:
        click.echo(f"  ignore {path}  (hidden file)")
    click.echo(
        f"{len(results)} tracks; loudness target {settings.target_lufs:g} LUFS; nothing written"
    )


def _summary_row(track: dict) -> tuple[str, ...]:
    duration, seconds = track["duration_s"], track["seconds"]
    reduction = track.get("max_gain_reduction_db")
    return (
        Path(track["input"]).name[:40],
        track["status"],
        f"{duration:.1f}" if duration else "",
        f"{seconds:.1f}" if seconds else "",
        f"{duration / seconds:.1f}" if duration and seconds else "",
        "" if track["lufs"] is None else f"{track['lufs']:.1f}",
        "" if track["true_peak_db"] is None else f"{track['true_peak_db']:.1f}",
        f"{reduction:.1f}" if reduction else "",
    )


def print_summary(report: dict, output_dir: Path) -> None:
    """The table of a rendered album, its gain, hot tracks, failures and where the report is."""
    rows = [("track", "status", "audio s", "render s", "x real time", "LUFS", "dBTP", "limited dB")]
    rows += [_summary_row(track) for track in report["tracks"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    loudness = report["loudness"]
    if loudness.get("gain_db") is not None:
        note = " (limited by the true-peak ceiling)" if loudness.get("limited_by_true_peak") else ""
        measured = loudness.get("album_lufs")
        album = f"; album {measured:.1f} LUFS" if measured is not None else ""
        click.echo(f"album gain {loudness['gain_db']:+.2f} dB{note}{album}")
        for hot in loudness.get("hot_tracks", []):
            click.echo(f"hot track turned down {-hot['trim_db']:.1f} dB: {hot['input']}")
    for track in report["tracks"]:
        if track["status"] == "error":
            click.echo(f"failed: {track['error']}", err=True)
    if "concert" in report:
        click.echo(f"concert: {report['concert']}")
    click.echo(f"report: {output_dir / 'report.json'}")


@main.group("presets")
def presets_group():
    """List and show the venue presets.

    \b
    Examples:
      liveify presets list
      liveify presets show stadium > my-venue.toml   # then edit and use --preset my-venue.toml
    """


@presets_group.command("list")
def presets_list():
    """Bundled presets with a one-line description."""
    from liveify.presets import list_presets

    presets = list_presets()
    width = max(len(name) for name, _ in presets)
    for name, description in presets:
        click.echo(f"{name.ljust(width)}  {description}")


@presets_group.command("show")
@click.argument("name")
def presets_show(name):
    """Print the fully resolved TOML of a preset (a bundled name or a .toml path)."""
    from liveify.presets import load_preset

    click.echo(load_preset(name).to_toml(), nl=False)


@main.command("demo")
@click.argument(
    "outdir",
    required=False,
    default="liveify-demo",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "-p",
    "--preset",
    default="stadium",
    show_default=True,
    help="Preset to render the demo album with.",
)
@click.option("--songs", type=click.IntRange(1, 12), default=3, show_default=True)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(5, 120),
    default=20.0,
    show_default=True,
    help="Seconds per demo song.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@progress_option
def demo_command(outdir, preset, songs, duration_s, seed, progress):
    """Make a short synthetic album and render it live, to hear Liveify in under a minute.

    Writes OUTDIR/studio (the generated studio songs), OUTDIR/reference-live (the synthetic
    generator's own "live" takes, for comparison) and OUTDIR/studio-live (Liveify's render).

    \b
    Examples:
      liveify demo
      liveify demo my-demo/ --preset club --songs 2
    """
    from liveify.demo import make_demo_data
    from liveify.presets import load_preset
    from liveify.render import RenderSettings, collect_tracks, render_album, resolve_model

    loaded_preset = load_preset(preset)
    click.echo(f"writing {songs} synthetic songs of {duration_s:g} s to {outdir}/ ...")
    make_demo_data(outdir, songs=songs, duration_s=duration_s, seed=seed)
    reference = outdir / "reference-live"
    if reference.exists():
        shutil.rmtree(reference)
    (outdir / "live").rename(reference)
    studio = outdir / "studio"
    settings = RenderSettings(
        preset=loaded_preset,
        output_dir=outdir / "studio-live",
        force=True,
        seed=seed,
        progress=show_progress(progress),
    )
    model = resolve_model(None, True, loaded_preset)
    click.echo(f"rendering with preset {loaded_preset.name}; {model.note}")
    report = render_album(collect_tracks([studio]).tracks, settings, model)
    print_summary(report, settings.output_dir)
    first = Path(report["tracks"][0]["output"])
    click.echo("")
    click.echo(f"studio songs:     {studio}/")
    click.echo(f"Liveify's render: {settings.output_dir}/")
    click.echo(f"listen, e.g.:     play '{first}'   (sox), or open the folder in any player")
