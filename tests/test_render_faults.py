"""Renders that meet trouble: a busy output folder, a killed render, a full disk, a read-only
folder, many renders starting at once on a fresh install."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from liveify.render.workspace import LOCK_NAME, WORK_MARKER, WORK_PREFIX
from tests.helpers import render


@pytest.fixture
def album(tmp_path, write_track):
    folder = tmp_path / "album"
    for number in (1, 2, 3):
        write_track(f"{number} Song.wav", seconds=2.0, folder=folder, seed=number)
    return folder


def test_a_second_render_into_a_busy_folder_refuses(album, tmp_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / LOCK_NAME, "a+") as held:  # as a running render holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        result = render(album, "-o", out, "-p", "club")
    assert result.exit_code == 1
    assert "another liveify render is writing into this folder" in result.output
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    assert render(album, "-o", out, "-p", "club").exit_code == 0  # free again


def test_leftovers_of_a_killed_render_are_removed_by_the_next(tmp_path, write_track):
    album = tmp_path / "long album"
    for number in (1, 2):
        write_track(f"{number} Long.wav", seconds=40.0, folder=album, seed=number)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "liveify", "render", str(album), "-o", str(out),
               "--no-model", "-p", "stadium", "--no-progress"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it hard once it is rendering
            if out.exists() and list(out.glob(f"{WORK_PREFIX}*/{WORK_MARKER}")):
                time.sleep(1.0)
                break
            time.sleep(0.05)
        else:
            pytest.fail("the render never started writing")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    left = [p for p in out.iterdir() if p.name.startswith(WORK_PREFIX)]
    assert left and (left[0] / WORK_MARKER).is_file()  # what SIGKILL leaves behind
    stray = out / f"{WORK_PREFIX}not-ours"  # a folder of the same name but without the marker
    stray.mkdir()
    assert render(album, "-o", out, "-p", "stadium").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [LOCK_NAME, "1 Long.wav", "2 Long.wav", "report.json", stray.name]
    )


def test_a_full_disk_stops_the_render_with_one_line_and_keeps_what_was_finished(
    album, tmp_path, monkeypatch
):
    import liveify.render.master as master

    original = master.atomic_audio_writer
    opened = []

    def filling_up(path, *args, **kwargs):
        opened.append(path)
        writer_context = original(path, *args, **kwargs)
        if len(opened) < 2:
            return writer_context

        class Full:
            def __enter__(self):
                writer = writer_context.__enter__()

                class Writer:
                    def write(self, block):
                        raise OSError(errno.ENOSPC, "No space left on device")

                self.writer = writer
                return Writer()

            def __exit__(self, *exc):
                return writer_context.__exit__(*exc)

        return Full()

    monkeypatch.setattr(master, "atomic_audio_writer", filling_up)
    before = {p.name: p.read_bytes() for p in album.iterdir()}
    out = tmp_path / "out"
    result = render(album, "-o", out, "-p", "club")
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if "error" in line]
    assert "2 Song.wav" in line and "No space left on device" in line
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "1 Song.wav", "report.json"]
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["ok", "pending", "pending"]
    assert {p.name: p.read_bytes() for p in album.iterdir()} == before
    monkeypatch.setattr(master, "atomic_audio_writer", original)
    result = render(album, "-o", out, "-p", "club")  # space freed: the rest is rendered
    assert result.exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert [t["status"] for t in report["tracks"]] == ["skipped", "ok", "ok"]


@pytest.fixture
def read_only_folder(tmp_path, monkeypatch):
    """A folder nobody may write to: permissions, or for root the immutable attribute, or (where
    neither binds root) the operating system's refusal injected at the write."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    made_immutable = False
    if os.access(folder, os.W_OK) and shutil.which("chattr"):
        made_immutable = (
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        )
    if os.access(folder, os.W_OK) and not made_immutable:
        import liveify.render.workspace as workspace

        def refused(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(workspace.tempfile, "TemporaryFile", refused)
    yield folder
    if made_immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_read_only_output_folder_fails_before_rendering(album, read_only_folder, monkeypatch):
    import liveify.render.album as album_module

    def never(*args, **kwargs):
        raise AssertionError("rendering started")

    monkeypatch.setattr(album_module, "render_track", never)
    result = render(album, "-o", read_only_folder, "-p", "club")
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if "error" in line]
    assert "cannot write to the output folder" in line and str(read_only_folder) in line


def test_renders_started_together_on_an_empty_numba_cache_all_succeed(tmp_path, write_track):
    album = tmp_path / "album"
    write_track("1 Song.wav", seconds=2.0, folder=album)
    environment = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "fresh-numba-cache")}

    def start(name):
        # DSP only keeps five processes light; the model stage's own imports are checked by
        # the model stage tests.
        command = [sys.executable, "-m", "liveify", "render", str(album), "-o",
                   str(tmp_path / name), "--no-progress", "--no-model", "-p", "club"]  # fmt: skip
        return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    processes = [start(f"out-{number}") for number in range(4)]
    outcomes = [(process.wait(timeout=600), process.stdout.read()) for process in processes]
    fifth = start("out-5")
    outcomes.append((fifth.wait(timeout=600), fifth.stdout.read()))
    for code, output in outcomes:
        assert code == 0, output
    reference, _ = sf.read(tmp_path / "out-0" / "1 Song.wav")
    for name in ("out-1", "out-2", "out-3", "out-5"):
        np.testing.assert_array_equal(sf.read(tmp_path / name / "1 Song.wav")[0], reference)
