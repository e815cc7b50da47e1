"""Demo "live" takes of real studio recordings (`liveify demo-data --studio-dir`).

Each recording (or a seeded excerpt of it) becomes a studio file, and the demo's own independent
live renderer (`liveify.demo.live`: its PA, hall and audience, none of Liveify's presets) plays it
with a crowd intro, a slightly different tempo and applause at the end. Training on such pairs
teaches a model what real instruments sound like through a PA in a hall, not the synthesiser's
timbre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liveify.audio import AUDIO_EXTENSIONS, read_blocks, to_stereo
from liveify.demo.live import TimeMap, demo_pa_and_hall
from liveify.demo.output import SAMPLE_RATE_HZ, peak_normalise, write_pair
from liveify.errors import DataError, LiveifyError, ParameterError

#: Extra containers a studio folder may hold (libsndfile reads Opus in Ogg).
_EXTENSIONS = (*AUDIO_EXTENSIONS, ".opus")
#: The band plays at most this much faster or slower than the record (a constant factor, so the
#: pitch moves by at most ~9 cents: far below a mel band, so targets stay sharp).
_MAX_TEMPO_CHANGE = 0.005
_EDGE_FADE_S = 0.05


def studio_recordings(folder: str | Path) -> list[Path]:
    """Audio files of `folder` in name order (hidden files skipped); DataError if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of studio recordings")
    paths = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in _EXTENSIONS and not path.name.startswith(".")
    )
    if not paths:
        raise DataError(f"{folder}: no audio files ({', '.join(_EXTENSIONS)})")
    return paths


def read_excerpt(path: Path, excerpt_s: float | None, rng: np.random.Generator) -> tuple:
    """Stereo 44.1 kHz audio of `path`, or a seeded `excerpt_s` stretch of it with short fades;
    returns the audio and where the excerpt starts (s)."""
    blocks = [to_stereo(b) for b in read_blocks(path, sample_rate=SAMPLE_RATE_HZ)]
    audio = np.concatenate(blocks, axis=1).astype(np.float64)
    start_s = 0.0
    if excerpt_s is not None and audio.shape[1] > excerpt_s * SAMPLE_RATE_HZ:
        length = int(excerpt_s * SAMPLE_RATE_HZ)
        first = int(rng.integers(0, audio.shape[1] - length + 1))
        audio, start_s = audio[:, first : first + length], first / SAMPLE_RATE_HZ
        fade = np.linspace(0.0, 1.0, int(_EDGE_FADE_S * SAMPLE_RATE_HZ))
        audio[:, : fade.size] *= fade
        audio[:, -fade.size :] *= fade[::-1]
    return audio, start_s


def play_recording_live(studio: np.ndarray, seed: list[int]) -> tuple[np.ndarray, dict]:
    """The demo renderer's live take of a real studio mix `studio` (2, n) at 44.1 kHz."""
    import soxr

    rng = np.random.default_rng([*seed, 7])
    start_offset_s = float(rng.uniform(2.0, 5.0))
    outro_s = float(rng.uniform(3.0, 5.0))
    stretch = 1.0 + float(rng.uniform(-_MAX_TEMPO_CHANGE, _MAX_TEMPO_CHANGE))
    played = soxr.resample(studio.T, SAMPLE_RATE_HZ, SAMPLE_RATE_HZ * stretch).T
    duration_s = studio.shape[1] / SAMPLE_RATE_HZ
    song_end_s = start_offset_s + played.shape[1] / SAMPLE_RATE_HZ
    total_s = song_end_s + outro_s
    band = np.zeros((2, int(total_s * SAMPLE_RATE_HZ)))
    first = int(start_offset_s * SAMPLE_RATE_HZ)
    band[:, first : first + played.shape[1]] = played
    live, room_info = demo_pa_and_hall(band, start_offset_s, song_end_s, total_s, rng)
    time_map = TimeMap(
        np.array([0.0, duration_s]),
        np.array([start_offset_s, start_offset_s + duration_s * stretch]),
    )
    info = {
        "time_map": time_map.to_dict(),
        "start_offset_s": round(start_offset_s, 6),
        "song_end_s": round(song_end_s, 6),
        "duration_s": round(total_s, 6),
        "studio_duration_s": round(duration_s, 6),
        "tempo_stretch": round(stretch, 6),
        **room_info,
        "sample_rate_hz": SAMPLE_RATE_HZ,
    }
    return live, info


def make_live_takes(
    studio_dir: str | Path, outdir: str | Path, *, excerpt_s: float | None = None, seed: int = 0
) -> list[tuple[Path, Path]]:
    """Write `outdir/studio/NN Name.wav` and `outdir/live/NN Name (Live).wav` (+ .json: the time
    map, the source file and the excerpt's start) for every recording in `studio_dir`.

    Unreadable files are skipped with a DataError listing them at the end, after the rest are
    written. The same seed gives identical files.
    """
    if excerpt_s is not None and not 2.0 <= excerpt_s <= 3600.0:
        raise ParameterError(f"excerpt must be between 2 and 3600 seconds; got {excerpt_s}")
    outdir = Path(outdir)
    written, failed = [], []
    for number, path in enumerate(studio_recordings(studio_dir), start=1):
        rng = np.random.default_rng([seed, number, 5])
        try:
            studio, start_s = read_excerpt(path, excerpt_s, rng)
        except LiveifyError as error:
            failed.append(f"{path.name} ({error})")
            continue
        studio = peak_normalise(studio)
        live, info = play_recording_live(studio, [seed, number])
        info.update(source=str(path), excerpt_start_s=round(start_s, 6))
        stem = f"{number:02d} {path.stem}"
        studio_path, live_path = write_pair(outdir, stem, studio, live, info)
        written.append((studio_path, live_path))
    if failed:
        raise DataError(f"wrote {len(written)} pairs; unreadable: {'; '.join(failed)}")
    return written
