import numpy as np
import pytest
import soundfile as sf

from liveify.audio import atomic_audio_writer, probe, read_audio, read_blocks, write_audio
from liveify.errors import AudioFileError, ParameterError
from tests.helpers import tone_mix


@pytest.mark.parametrize(
    "name, subtype",
    [
        ("a.wav", "PCM_16"),
        ("b.wav", "PCM_24"),
        ("c.wav", "FLOAT"),
        ("d.flac", "PCM_24"),
        ("e.ogg", "VORBIS"),
        ("f.aiff", "PCM_16"),
    ],
)
def test_reads_common_formats(write_track, name, subtype):
    path = write_track(name, seconds=1.0, subtype=subtype)
    audio, rate = read_audio(path)
    assert rate == 44100 and type(rate) is int and audio.shape[0] == 2
    assert abs(audio.shape[1] - 44100) < 2000  # ogg may pad
    reference = tone_mix(1.0, 44100)
    assert np.corrcoef(audio[0, :40000], reference[0, :40000])[0, 1] > 0.99


@pytest.mark.parametrize(
    "name, subtype",
    [("a.wav", "PCM_16"), ("b.wav", "PCM_24"), ("c.wav", "DOUBLE"), ("d.flac", "PCM_24"),
     ("e.aiff", "PCM_24"), ("f.wav", "PCM_U8"), ("g.wav", "IMA_ADPCM")],
)  # fmt: skip
def test_every_decoder_gives_libsndfiles_samples(write_track, name, subtype):
    # PCM goes through pedalboard.io, the rest through libsndfile: the same frames either way.
    path = write_track(name, seconds=0.7, subtype=subtype, channels=1)
    expected = sf.read(path, dtype="float32", always_2d=True)[0].T
    blocks = list(read_blocks(path, block_frames=4096))
    assert all(block.shape[0] == 1 and block.flags.c_contiguous for block in blocks)
    np.testing.assert_allclose(np.concatenate(blocks, axis=1), expected, rtol=1e-4, atol=1e-7)


def test_reads_mp3(tmp_path):
    from pedalboard.io import AudioFile

    path = tmp_path / "song.mp3"
    with AudioFile(str(path), "w", 44100, 2) as f:
        f.write(tone_mix(1.0, 44100))
    audio, rate = read_audio(path)
    assert rate == 44100 and audio.shape[1] >= 44100  # encoder padding adds frames


def test_resampled_blocks_cover_the_file(write_track):
    path = write_track("x.wav", seconds=2.0, sample_rate=48000)
    blocks = list(read_blocks(path, sample_rate=22050, block_frames=4096))
    assert sum(b.shape[1] for b in blocks) == pytest.approx(44100, abs=2)


@pytest.mark.parametrize(
    "content, cause",
    [(b"", "empty file"), (b"this is not audio at all" * 10, "not readable as audio")],
)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, content, cause):
    path = tmp_path / "bad ünïcode.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=cause) as error:
        probe(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_nan_samples_are_reported_with_their_time(tmp_path):
    audio = tone_mix(1.0, 8000)
    audio[0, 4000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, audio.T, 8000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=r"NaN .* 0\.50 s"):
        read_audio(path)


def test_too_many_channels_and_too_low_rates_are_refused(tmp_path):
    sf.write(tmp_path / "surround.wav", np.zeros((1000, 8), np.float32), 44100)
    with pytest.raises(AudioFileError, match="8 channels"):
        probe(tmp_path / "surround.wav")
    sf.write(tmp_path / "low.wav", np.zeros((1000, 1), np.float32), 4000)
    with pytest.raises(AudioFileError, match="below 8000"):
        probe(tmp_path / "low.wav")


@pytest.mark.parametrize("kept_bytes", [50, 20000])
def test_truncated_wav_is_reported(write_track, kept_bytes):
    path = write_track("t.wav", seconds=1.0)
    path.write_bytes(path.read_bytes()[:kept_bytes])
    with pytest.raises(AudioFileError, match="truncated"):
        read_audio(path)


def test_atomic_writer_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(KeyboardInterrupt), atomic_audio_writer(target, 44100, 2) as writer:
        writer.write(np.zeros((2, 100), np.float32))
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    write_audio(target, tone_mix(0.5, 44100), 44100, bit_depth="32f")
    np.testing.assert_allclose(sf.read(target)[0].T, tone_mix(0.5, 44100), atol=1e-7)


@pytest.mark.parametrize("name, bit_depth", [("a.wav", "16"), ("b.wav", "24"), ("c.flac", "24")])
def test_written_integer_files_are_within_one_step_of_the_signal(tmp_path, name, bit_depth):
    audio = tone_mix(0.5, 44100)
    write_audio(tmp_path / name, audio, 44100, bit_depth=bit_depth)
    info = sf.info(tmp_path / name)
    assert info.subtype == f"PCM_{bit_depth}" and info.frames == audio.shape[1]
    step = 2.0 ** (1 - int(bit_depth))
    np.testing.assert_allclose(sf.read(tmp_path / name)[0].T, audio, atol=step)


@pytest.mark.parametrize(
    "name, bit_depth, cause",
    [("a.mp3", "24", "output format"), ("a.wav", "8", "bit depth"), ("a.flac", "32f", "flac")],
)
def test_unwritable_formats_are_refused_before_writing(tmp_path, name, bit_depth, cause):
    with pytest.raises(ParameterError, match=cause):
        write_audio(tmp_path / name, tone_mix(0.1, 44100), 44100, bit_depth=bit_depth)
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "out.wav"
    write_audio(target, tone_mix(0.1, 44100), 44100)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_the_sample_rate_works_with_soundfile_as_is(write_track, tmp_path):
    audio, rate = read_audio(write_track("a.wav", seconds=0.2, sample_rate=22050))
    sf.write(tmp_path / "copy.wav", audio.T, rate)  # soundfile wants an int rate
    assert sf.info(tmp_path / "copy.wav").samplerate == 22050
