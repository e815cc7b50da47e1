"""Reading, validating and atomically writing audio files, in blocks so hour-long tracks stream.

Every failure is an AudioFileError whose one-line message names the file and the cause.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveify.errors import AudioFileError, ParameterError, first_line
from liveify.files import atomic_path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aif", ".aiff")
MIN_SAMPLE_RATE_HZ = 8000
MAX_CHANNELS = 2
#: Output bit depths: 16- and 24-bit integer PCM, or 32-bit float (wav only), as pedalboard.io
#: writes them.
BIT_DEPTHS = {"16": 16, "24": 24, "32f": 32}
OUTPUT_FORMATS = ("wav", "flac")
DEFAULT_BLOCK_FRAMES = 1 << 17
#: Encodings that pedalboard.io (JUCE) decodes to the same samples as libsndfile, about twice as
#: fast and straight into (channels, frames); the one difference is that JUCE scales 16-bit
#: samples by 1/32767 instead of 1/32768 (0.0003 dB). Everything else (mp3 with its gapless
#: padding, ogg, ADPCM, u-law, 8-bit) is decoded by libsndfile.
_PEDALBOARD_DECODES = {
    (container, subtype)
    for container in ("WAV", "WAVEX", "AIFF", "FLAC")
    for subtype in ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
    if not (container == "FLAC" and subtype in ("PCM_32", "FLOAT", "DOUBLE"))
}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header."""

    path: Path
    sample_rate: float
    channels: int
    frames: int
    container: str  # libsndfile's names: "WAV", "FLAC", "MP3", ...
    subtype: str  # "PCM_24", "FLOAT", "VORBIS", ...

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def probe(path: str | os.PathLike) -> AudioInfo:
    """Open `path`, check it is usable audio (Liveify's limits) and return its AudioInfo."""
    import soundfile

    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if path.is_dir():
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: empty file (0 bytes)")
    try:
        header = soundfile.info(str(path))
    except Exception as error:  # libsndfile raises LibsndfileError/RuntimeError with codec detail
        raise AudioFileError(f"{path}: not readable as audio ({first_line(error)})") from None
    # libsndfile counts the frames actually present; its header log says "(should be N)" when
    # the data chunk is shorter than the header promises.
    if "(should be" in header.extra_info.split("data :")[-1].splitlines()[0]:
        raise AudioFileError(
            f"{path}: truncated (the header promises more audio than the file holds)"
        )
    info = AudioInfo(
        path,
        float(header.samplerate),
        header.channels,
        header.frames,
        container=header.format,
        subtype=header.subtype,
    )
    if info.frames <= 0:
        raise AudioFileError(f"{path}: contains no audio (0 frames)")
    if info.channels < 1:
        raise AudioFileError(f"{path}: has no audio channels")
    if info.channels > MAX_CHANNELS:
        raise AudioFileError(
            f"{path}: has {info.channels} channels; Liveify renders mono or stereo, "
            "so downmix it to stereo first (e.g. ffmpeg -i in.wav -ac 2 out.wav)"
        )
    if info.sample_rate < MIN_SAMPLE_RATE_HZ:
        raise AudioFileError(
            f"{path}: sample rate {info.sample_rate:g} Hz is below {MIN_SAMPLE_RATE_HZ} Hz"
        )
    return info


def read_blocks(
    path: str | os.PathLike,
    *,
    sample_rate: float | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
) -> Iterator[np.ndarray]:
    """Yield float32 (channels, frames) blocks of `path`, resampled to `sample_rate` if given.

    Resampling streams through soxr (high quality), so memory stays at one block. NaN or infinite
    samples raise AudioFileError naming the file and the time they occur at.
    """
    info = probe(path)
    resampler = None
    if sample_rate is not None and sample_rate != info.sample_rate:
        import soxr

        resampler = soxr.ResampleStream(
            info.sample_rate, float(sample_rate), info.channels, dtype="float32", quality="HQ"
        )
    position_frames = 0
    yielded_frames = 0
    try:
        for block in _decoded_blocks(info, block_frames):
            last = block.shape[1] < block_frames
            if not np.isfinite(block).all():
                bad_frame = position_frames + int(np.argmax(~np.isfinite(block).all(axis=0)))
                raise AudioFileError(
                    f"{path}: contains NaN or infinite samples (first at "
                    f"{bad_frame / info.sample_rate:.2f} s)"
                )
            position_frames += block.shape[1]
            if resampler is not None:
                block = np.ascontiguousarray(resampler.resample_chunk(block.T, last=last).T)
            if block.shape[1]:
                yielded_frames += block.shape[1]
                yield block
            if last:
                break
    except AudioFileError:
        raise
    except Exception as error:
        raise AudioFileError(
            f"{path}: read failed after {position_frames} frames ({first_line(error)}); "
            "the file may be truncated or corrupt"
        ) from None
    if yielded_frames == 0:
        raise AudioFileError(f"{path}: contains no audio (0 frames decoded)")


def _decoded_blocks(info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    """float32 (channels, frames) blocks of `block_frames` (the last one shorter, maybe empty)."""
    if (info.container, info.subtype) in _PEDALBOARD_DECODES:
        from pedalboard.io import AudioFile

        with AudioFile(str(info.path)) as audio_file:
            while True:
                block = audio_file.read(block_frames)
                yield block
                if block.shape[1] < block_frames:
                    return
    import soundfile

    with soundfile.SoundFile(str(info.path)) as audio_file:
        while True:
            block = audio_file.read(block_frames, dtype="float32", always_2d=True)
            yield np.ascontiguousarray(block.T)
            if block.shape[0] < block_frames:
                return


def read_audio(
    path: str | os.PathLike, *, sample_rate: float | None = None
) -> tuple[np.ndarray, int | float]:
    """Read a whole file as float32 (channels, frames); returns the audio and its sample rate
    (an int whenever the rate is a whole number of Hz, as soundfile and pedalboard expect).

    >>> audio, sample_rate = read_audio("song.flac")      # (2, frames) float32, 44100
    """
    rate = float(sample_rate) if sample_rate is not None else probe(path).sample_rate
    blocks = list(read_blocks(path, sample_rate=sample_rate))
    return np.concatenate(blocks, axis=1), int(rate) if rate.is_integer() else rate


def to_stereo(block: np.ndarray) -> np.ndarray:
    """Mono blocks become two identical channels; stereo passes through."""
    if block.shape[0] == 1:
        return np.repeat(block, 2, axis=0)
    return block


def check_output_format(path: str | os.PathLike, bit_depth: str) -> None:
    """Refuse an output file type or bit depth Liveify cannot write, naming the file."""
    file_format = Path(path).suffix.lower().lstrip(".")
    if file_format not in OUTPUT_FORMATS:
        raise ParameterError(
            f"output format must be one of {', '.join(OUTPUT_FORMATS)}; got {Path(path).name}"
        )
    if bit_depth not in BIT_DEPTHS:
        raise ParameterError(f"bit depth must be one of {', '.join(BIT_DEPTHS)}; got {bit_depth!r}")
    if file_format == "flac" and bit_depth == "32f":
        raise ParameterError("flac holds 16- or 24-bit samples; use --bit-depth 24 or wav for 32f")


@contextlib.contextmanager
def atomic_audio_writer(
    path: str | os.PathLike, sample_rate: float, channels: int, *, bit_depth: str = "24"
):
    """Write audio block by block to a temporary file beside `path`, renamed into place on success.

    The writer is a `pedalboard.io.AudioFile`: `write` takes float32 `(channels, frames)` blocks
    (about twice as fast as libsndfile's conversion to 24-bit). On any error (or Ctrl-C) the
    temporary file is removed, so `path` is either the old file or a complete new one, never a
    partial render.

    >>> with atomic_audio_writer("out/01 Song.wav", 44100, 2) as writer:
    ...     writer.write(block)  # (channels, frames), as the stages produce it
    """
    from pedalboard.io import AudioFile

    check_output_format(path, bit_depth)
    with (
        atomic_path(path) as temporary,  # keeps the suffix, from which AudioFile picks the format
        AudioFile(
            str(temporary),
            "w",
            samplerate=round(sample_rate),
            num_channels=channels,
            bit_depth=BIT_DEPTHS[bit_depth],
        ) as writer,
    ):
        yield writer


def write_audio(
    path: str | os.PathLike, audio: np.ndarray, sample_rate: float, *, bit_depth: str = "24"
) -> None:
    """Write a whole (channels, frames) array atomically."""
    audio = np.asarray(audio, dtype=np.float32)
    with atomic_audio_writer(path, sample_rate, audio.shape[0], bit_depth=bit_depth) as writer:
        writer.write(audio)


def as_channels_first(audio: np.ndarray, *, name: str = "audio") -> np.ndarray:
    """Return `audio` as a C-contiguous float32 `(channels, samples)` array.

    1-D input is treated as mono. 2-D input must already be channels-first: pedalboard guesses the
    layout from the shape, which silently transposes short stereo clips, so Liveify refuses to guess
    and asks for `(channels, samples)` when the first axis looks like samples.
    """
    array = np.asarray(audio)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise ParameterError(f"{name} must be shaped (channels, samples); got shape {array.shape}")
    if array.shape[0] > 16 and array.shape[1] <= 16:
        raise ParameterError(
            f"{name} looks like (samples, channels) with shape {array.shape}; "
            "pass (channels, samples), e.g. audio.T"
        )
    return np.ascontiguousarray(array, dtype=np.float32)
