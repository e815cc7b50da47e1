"""`liveify batch`: catalogues, shards, the local and Ray engines, retries, resume and the report.

Albums are tiny (1-2 s tracks, no model, a club preset with a short lead-in and tail); one Ray
instance of 2 CPUs serves the whole session.
"""

import fcntl
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from liveify.batch.album_task import KILL_ALBUM_VARIABLE, BatchRenderOptions, album_recipe
from liveify.batch.catalog import (
    CatalogueAlbum,
    check_output_root,
    parse_shard,
    read_catalogue,
    shard_albums,
)
from liveify.batch.engine import EngineOptions
from liveify.batch.local_engine import gpu_shares
from liveify.batch.report import REPORT_NAME
from liveify.cli import main
from liveify.errors import ParameterError
from liveify.presets import load_preset
from liveify.render.workspace import LOCK_NAME
from tests.helpers import invoke, tone_mix

ALBUMS = {"Album A": (1.5, 1.0), "Album B": (1.0, 1.0), "Album C": (2.0,)}


def write_album(folder: Path, seconds: tuple[float, ...], seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for number, duration in enumerate(seconds, start=1):
        sf.write(folder / f"{number} Song.wav", tone_mix(duration, 44100, seed=seed + number).T,
                 44100)  # fmt: skip
    return folder


def batch(catalogue, output_root, preset, *args):
    return invoke("batch", catalogue, "-o", output_root, "-p", preset, "--no-model",
                  "--no-progress", *args)  # fmt: skip


def rows(output_root: Path) -> dict[str, dict]:
    report = json.loads((output_root / REPORT_NAME).read_text())
    return {row["album"]: row for row in report["albums"]}


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of an album's output folder except its report (which records times)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "report.json"}


@pytest.fixture(scope="module")
def short_preset(tmp_path_factory) -> Path:
    """The club preset with a half-second lead-in and a one-second tail: quick to render."""
    text = load_preset("club").to_toml()
    text = re.sub(r"(?m)^lead_in_s = .*$", "lead_in_s = 0.5", text)
    text = re.sub(r"(?m)^tail_s = .*$", "tail_s = 1.0", text)
    path = tmp_path_factory.mktemp("presets") / "short-club.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("catalogue")
    for seed, (name, seconds) in enumerate(ALBUMS.items()):
        write_album(root / name, seconds, seed * 10)
    return root


@pytest.fixture(scope="module")
def clean_run(catalogue, short_preset, tmp_path_factory) -> Path:
    """The catalogue rendered once by the local engine with two workers."""
    output_root = tmp_path_factory.mktemp("clean") / "live"
    result = batch(catalogue, output_root, short_preset, "--workers", 2)
    assert result.exit_code == 0, result.output
    return output_root


@pytest.fixture(scope="session")
def ray_instance():
    """One embedded Ray instance of 2 CPUs for the session (its start costs seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def test_catalogues_from_a_folder_a_text_manifest_and_a_csv_manifest(tmp_path, catalogue):
    (catalogue_copy := tmp_path / "folder").mkdir()
    for name in ALBUMS:
        shutil.copytree(catalogue / name, catalogue_copy / name)
    (catalogue_copy / "artwork").mkdir()
    (catalogue_copy / "artwork" / "cover.png").write_bytes(b"png")
    (catalogue_copy / ".hidden album").mkdir()
    (catalogue_copy / "notes.txt").write_text("liner notes")
    folder = read_catalogue(catalogue_copy)
    assert [album.name for album in folder.albums] == list(ALBUMS)
    assert sorted(path.name for path, _ in folder.ignored) == ["artwork", "notes.txt"]

    text = tmp_path / "albums.txt"
    text.write_text(f"# my catalogue\n\n{catalogue / 'Album B'}\nfolder/Album A\n")
    listed = read_catalogue(text)
    assert [(a.source, a.name, a.preset) for a in listed.albums] == [
        (catalogue / "Album B", "Album B", None),
        (tmp_path / "folder" / "Album A", "Album A", None),
    ]

    table = tmp_path / "albums.csv"
    table.write_text(
        'output,album,preset\n"B, live",folder/Album B,club\n,folder/Album C,my.toml\n'
    )
    rows_read = read_catalogue(table).albums
    assert [(a.name, a.preset) for a in rows_read] == [
        ("B, live", "club"),
        ("Album C", str(tmp_path / "my.toml")),  # preset files are read beside the manifest
    ]
    assert rows_read[0].source == tmp_path / "folder" / "Album B"
    headless = tmp_path / "plain.csv"
    headless.write_text("folder/Album A,arena,first\n")
    assert [(a.name, a.preset) for a in read_catalogue(headless).albums] == [("first", "arena")]


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("a/Live\nb/live\n", "would both be written to OUTROOT/live"),
        ("album,output\nx,../escape\n", "not a plain folder name"),
        ("album,output\nx,.hidden\n", "not a plain folder name"),
        ("album,cover\nx,y\n", "unknown column 'cover'"),
        ("x/Album, Live,club,out\n", "row 1 has 4 cells for 3 columns"),
        ("\n# nothing\n", "lists no albums"),
    ],
)
def test_manifests_that_would_clash_or_escape_are_refused(tmp_path, manifest, message):
    path = tmp_path / ("albums.csv" if "," in manifest else "albums.txt")
    path.write_text(manifest)
    with pytest.raises(ParameterError, match=re.escape(message)):
        read_catalogue(path)


def test_an_output_root_inside_the_catalogue_folder_is_refused(catalogue):
    with pytest.raises(ParameterError, match="inside the catalogue folder"):
        check_output_root(catalogue, catalogue / "live")
    check_output_root(catalogue, catalogue.parent / "live")


def test_shards_cover_the_catalogue_exactly_once_whatever_the_listing_order(tmp_path):
    names = [f"Album {index:02d}" for index in range(11)]
    (manifest := tmp_path / "albums.txt").write_text("\n".join(names))
    albums = read_catalogue(manifest).albums
    for count in range(1, 6):
        shards = [shard_albums(albums, index, count) for index in range(count)]
        covered = [album.name for shard in shards for album in shard]
        assert sorted(covered) == names  # every album once, in no two shards
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
        reversed_order = [shard_albums(albums[::-1], index, count) for index in range(count)]
        assert reversed_order == shards
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/4", "1", "a/b", "0/0"):
        with pytest.raises(ParameterError, match="--shard"):
            parse_shard(bad)


def test_every_album_is_rendered_as_liveify_render_renders_it(clean_run, catalogue, short_preset,
                                                              tmp_path):  # fmt: skip
    for name in ALBUMS:
        reference = tmp_path / name
        result = invoke("render", catalogue / name, "-o", reference, "-p", short_preset,
                        "--no-model", "--no-progress")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert folder_bytes(clean_run / name) == folder_bytes(reference)
        album_report = json.loads((clean_run / name / "report.json").read_text())
        reference_report = json.loads((reference / "report.json").read_text())
        assert album_report["settings_id"] == reference_report["settings_id"]
        assert album_report["loudness"]["gain_db"] == reference_report["loudness"]["gain_db"]
    report = rows(clean_run)
    assert sorted(report) == sorted(ALBUMS)
    for name, seconds in ALBUMS.items():
        row = report[name]
        assert (row["status"], row["tracks"], row["attempts"], row["errors"]) == (
            "ok",
            len(seconds),
            1,
            [],
        )
        assert row["audio_s"] == pytest.approx(sum(seconds), abs=1e-3)
        assert row["wall_s"] > 0 and row["output"] == str(clean_run / name)
    summary = json.loads((clean_run / REPORT_NAME).read_text())["summary"]
    assert (summary["albums"], summary["ok"], summary["pending"]) == (3, 3, 0)


def test_shards_render_their_albums_into_one_report_and_a_rerun_redoes_only_what_is_missing(
    clean_run, catalogue, short_preset, tmp_path
):
    output_root = tmp_path / "live"
    first = batch(catalogue, output_root, short_preset, "--shard", "0/2", "--workers", 1)
    assert first.exit_code == 0, first.output
    assert sorted(rows(output_root)) == ["Album A", "Album C"]  # every second album by name
    assert not (output_root / "Album B").exists()
    summary = json.loads((output_root / REPORT_NAME).read_text())["summary"]
    assert (summary["albums"], summary["ok"], summary["pending"]) == (3, 2, 1)
    second = batch(catalogue, output_root, short_preset, "--shard", "1/2", "--workers", 1)
    assert second.exit_code == 0, second.output
    assert {name: row["status"] for name, row in rows(output_root).items()} == dict.fromkeys(
        ALBUMS, "ok"
    )  # both shards' rows, merged
    assert {name: folder_bytes(output_root / name) for name in ALBUMS} == {
        name: folder_bytes(clean_run / name) for name in ALBUMS
    }

    stamps = {p: p.stat().st_mtime_ns for p in output_root.rglob("*")}
    result = batch(catalogue, output_root, short_preset)
    assert result.exit_code == 0, result.output
    assert "3 of 3 albums already rendered with these settings: skipped" in result.output
    assert {name: (row["status"], row["attempts"]) for name, row in rows(output_root).items()} == {
        name: ("skipped", 0) for name in ALBUMS
    }
    changed = [p for p in output_root.rglob("*") if p.stat().st_mtime_ns != stamps.get(p)]
    assert changed == [output_root / REPORT_NAME]  # no album folder was touched

    (output_root / "Album A" / "2 Song.wav").unlink()  # one track lost: only it is rendered
    result = batch(catalogue, output_root, short_preset)
    assert result.exit_code == 0, result.output
    report = rows(output_root)
    assert (report["Album A"]["status"], report["Album A"]["attempts"]) == ("ok", 1)
    assert report["Album B"]["status"] == report["Album C"]["status"] == "skipped"
    assert folder_bytes(output_root / "Album A") == folder_bytes(clean_run / "Album A")


def test_a_worker_killed_mid_album_is_retried_and_its_album_matches_a_clean_run(
    clean_run, catalogue, short_preset, tmp_path, monkeypatch
):
    monkeypatch.setenv(KILL_ALBUM_VARIABLE, "Album A")
    output_root = tmp_path / "live"
    result = batch(catalogue, output_root, short_preset, "--workers", 1, "--max-retries", 1)
    assert result.exit_code == 0, result.output
    killed = rows(output_root)["Album A"]
    assert (killed["status"], killed["attempts"]) == ("ok", 2)
    assert killed["errors"] == ["attempt 1: worker process killed by SIGKILL"]
    assert rows(output_root)["Album B"]["attempts"] == 1
    for name in ALBUMS:  # nothing partial, nothing twice, same bytes
        assert folder_bytes(output_root / name) == folder_bytes(clean_run / name)
    assert sorted(p.name for p in (output_root / "Album A").iterdir()) == [
        LOCK_NAME, "1 Song.wav", "2 Song.wav", "report.json"
    ]  # fmt: skip


def test_failed_and_busy_albums_are_reported_and_the_rest_rendered(
    catalogue, short_preset, tmp_path
):
    broken = write_album(tmp_path / "broken", (1.0,), 5)
    (broken / "2 Truncated.wav").write_bytes(b"RIFF\x00\x00")
    manifest = tmp_path / "albums.csv"
    manifest.write_text(f"album,preset,output\n{catalogue / 'Album B'},,good\n"
                        f"broken,,broken\n{catalogue / 'Album C'},,taken\n"
                        f"{tmp_path / 'missing'},,missing\n")  # fmt: skip
    output_root = tmp_path / "live"
    (output_root / "taken").mkdir(parents=True)
    with open(output_root / "taken" / LOCK_NAME, "a+") as held:  # as another render holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        result = batch(manifest, output_root, short_preset, "--workers", 1)
    assert result.exit_code == 1, result.output
    report = rows(output_root)
    assert {name: row["status"] for name, row in report.items()} == {
        "good": "ok", "broken": "failed", "taken": "busy", "missing": "failed"
    }  # fmt: skip
    assert (report["broken"]["tracks"], report["broken"]["tracks_failed"]) == (2, 1)
    assert "2 Truncated.wav" in report["broken"]["errors"][0]
    assert (output_root / "broken" / "1 Song.wav").exists()  # the album went on past its bad track
    assert "another liveify render is writing into this folder" in report["taken"]["errors"][0]
    assert sorted(p.name for p in (output_root / "taken").iterdir()) == [LOCK_NAME]
    assert "no such file or folder" in report["missing"]["errors"][0]
    assert "liveify: error: album broken failed" in result.output
    assert "1 albums were being rendered by another process" in result.output


def test_batch_takes_render_options_with_render_defaults():
    render_options = {p.name: p for p in main.commands["render"].params}
    shared = [p for p in main.commands["batch"].params if p.name in render_options]
    assert len(shared) >= 12
    for option in shared:
        twin = render_options[option.name]
        assert (option.opts, option.default, option.is_flag) == (
            twin.opts,
            twin.default,
            twin.is_flag,
        )
        assert option.type.to_info_dict() == twin.type.to_info_dict()


def test_the_ray_engine_without_ray_names_the_extra_in_one_line(catalogue, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    result = invoke("batch", catalogue, "-o", tmp_path / "live", "--engine", "ray", "--no-model")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "pip install 'liveify[ray]'" in result.output
    assert not (tmp_path / "live").exists()


def test_liveify_and_its_render_path_never_import_ray():
    """Every module `import liveify`, the CLI and `liveify render` can load, and the batch
    package itself: only the Ray engine's module imports ray, when it runs."""
    package = Path(__file__).resolve().parent.parent / "liveify"
    modules = ["liveify", "liveify.cli", "liveify.presets", "liveify.analysis"] + [
        f"liveify.{folder}.{path.stem}"
        for folder in ("render", "plugins", "batch")
        for path in sorted((package / folder).glob("*.py"))
        if path.stem not in ("__init__", "ray_engine")
    ]
    script = f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
    script += "assert 'ray' not in sys.modules, 'ray was imported'\n"
    subprocess.run([sys.executable, "-c", script], check=True)


def test_engine_options_and_gpu_shares():
    assert gpu_shares(4, 0.5, ["0", "1"]) == [["0"], ["0"], ["1"], ["1"]]
    assert gpu_shares(3, 2, ["0", "1", "2", "3"]) == [["0", "1"], ["2", "3"]]  # 2 fit
    assert gpu_shares(2, 1, ["5", "7"]) == [["5"], ["7"]]
    with pytest.raises(ParameterError, match="0 GPUs visible"):
        gpu_shares(2, 0.5, [])
    with pytest.raises(ParameterError, match=r"--gpus-per-album 1\.5"):
        EngineOptions(gpus_per_task=1.5)
    with pytest.raises(ParameterError, match="--address needs --engine ray"):
        EngineOptions(address="auto")


def test_the_ray_engine_renders_the_same_bytes_as_the_local_engine(
    ray_instance, clean_run, catalogue, short_preset, tmp_path
):
    output_root = tmp_path / "live"
    result = batch(catalogue, output_root, short_preset, "--engine", "ray")
    assert result.exit_code == 0, result.output
    for name in ALBUMS:
        assert folder_bytes(output_root / name) == folder_bytes(clean_run / name)
        assert (rows(output_root)[name]["status"], rows(output_root)[name]["attempts"]) == ("ok", 1)
    assert ray_instance.is_initialized()  # a running instance is used, not replaced or stopped


def test_ray_retries_an_album_whose_worker_was_killed(
    ray_instance, clean_run, catalogue, short_preset, tmp_path, monkeypatch
):
    monkeypatch.setenv(KILL_ALBUM_VARIABLE, "Album B")
    output_root = tmp_path / "live"
    result = batch(catalogue, output_root, short_preset, "--engine", "ray", "--max-retries", 0)
    assert result.exit_code == 1, result.output  # no retry allowed: the album fails
    row = rows(output_root)["Album B"]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["errors"][0].startswith("attempt 1: ") and "Worker" in row["errors"][0]
    result = batch(catalogue, output_root, short_preset, "--engine", "ray", "--max-retries", 1)
    assert result.exit_code == 0, result.output  # the first attempt of this run dies too
    assert (rows(output_root)["Album B"]["status"], rows(output_root)["Album B"]["attempts"]) == (
        "ok",
        2,
    )
    assert rows(output_root)["Album A"]["status"] == "skipped"
    for name in ALBUMS:
        assert folder_bytes(output_root / name) == folder_bytes(clean_run / name)


def test_an_album_granted_gpus_renders_its_model_on_cuda_and_takes_the_strength(tmp_path):
    album = CatalogueAlbum(name="a", source=tmp_path, preset=None)
    on_gpu = BatchRenderOptions(gpus_per_album=0.5, model_strength=0.25)
    settings, _ = album_recipe(album, on_gpu, tmp_path / "out")
    assert settings.device == "cuda" and settings.preset.model_strength == 0.25
    explicit = BatchRenderOptions(gpus_per_album=1, device="cuda:1")
    assert album_recipe(album, explicit, tmp_path / "out")[0].device == "cuda:1"
    assert album_recipe(album, BatchRenderOptions(), tmp_path / "out")[0].device == "auto"
