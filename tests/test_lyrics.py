"""The `--align lyrics` path: offline Whisper loading, cached transcripts, lyric similarity."""

import dataclasses

import pytest

from liveify.data.dataset import prepare_pairs
from liveify.data.lyrics import (
    Transcriber,
    load_whisper,
    lyric_anchors,
    lyric_similarity,
    lyric_words,
    resolve_whisper_checkpoint,
)
from liveify.demo import make_demo_data
from liveify.errors import DataError, MissingDependencyError, ModelFileError

torch = pytest.importorskip("torch")
whisper = pytest.importorskip("whisper")

VERSE = "I walked along the harbour lights, the city sleeping in the rain"


def test_words_ignore_case_accents_and_punctuation():
    assert lyric_words("Café, DÉJÀ vu! Don't stop—") == ["cafe", "deja", "vu", "don't", "stop"]


def test_similarity_on_constructed_transcripts():
    assert lyric_similarity(VERSE, VERSE.upper() + "!") == 1.0
    live = "Thank you London! " + VERSE + " Sing it with me!"
    assert 0.7 < lyric_similarity(VERSE, live) < 1.0
    other = "Nothing compares to the summer we spent by the river in June"
    assert lyric_similarity(VERSE, other) < 0.3
    assert lyric_similarity(VERSE, "") == 0.0
    assert lyric_similarity("", "") == 0.0


def test_missing_model_name_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(MissingDependencyError) as error:
        resolve_whisper_checkpoint("base")
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "whisper") in message
    assert "whisper.load_model('base')" in message and "--whisper-model" in message
    with pytest.raises(MissingDependencyError, match="neither a checkpoint file nor a model name"):
        resolve_whisper_checkpoint("no-such-model")
    # A model in the Whisper cache is found by name (file name as Whisper downloads it).
    (tmp_path / "whisper").mkdir()
    (tmp_path / "whisper" / "large-v3-turbo.pt").write_bytes(b"weights")
    assert resolve_whisper_checkpoint("turbo") == tmp_path / "whisper" / "large-v3-turbo.pt"


def test_unloadable_checkpoint_is_a_model_file_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match=r"bad\.pt"):
        load_whisper(bad)


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A randomly initialised 2-layer Whisper saved the way Whisper's loader expects."""
    dims = whisper.model.ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
        n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = whisper.model.Whisper(dims)
    # Whisper allocates the decoder's positional embedding with torch.empty (a checkpoint fills
    # it); left as is, it holds whatever memory held, sometimes NaN. Give it real values.
    with torch.no_grad():
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture
def one_thread():
    # Tiny models decode one token at a time; on a busy 2-core machine thread hand-offs
    # dominate, so run single-threaded (restored afterwards).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    make_demo_data(root, songs=1, duration_s=5, seed=1)
    return root


def test_transcripts_are_computed_once_then_cached(tiny_whisper, short_demo, tmp_path, one_thread):
    studio = next((short_demo / "studio").glob("*.wav"))
    live = next((short_demo / "live").glob("*.wav"))
    # Without word times: the random model's 224-token babble takes ~10x longer to time word by
    # word, and caching is the point here (test_prepare_pairs_with_lyrics_gate times words).
    options = {"language": "en", "temperatures": (0.0,), "word_timestamps": False}
    transcriber = Transcriber(tiny_whisper, cache_dir=tmp_path, **options)
    first = [transcriber.transcribe(studio), transcriber.transcribe(live)]
    assert transcriber.model_runs == 2
    assert all(isinstance(t.text, str) and t.language == "en" for t in first)
    assert all(isinstance(t.segments, list) for t in first)
    assert len(list(tmp_path.glob("transcript-*.json"))) == 2

    again = Transcriber(tiny_whisper, cache_dir=tmp_path, **options)
    assert [again.transcribe(studio), again.transcribe(live)] == first
    assert again.model_runs == 0 and again._model is None  # the model was never even loaded

    # Other decoding options are another cache entry.
    other = Transcriber(tiny_whisper, cache_dir=tmp_path, **{**options, "temperatures": (0.0, 0.5)})
    other.transcribe(studio)
    assert other.model_runs == 1


def test_prepare_pairs_with_lyrics_gate(tiny_whisper, short_demo, tmp_path, one_thread):
    dirs = (short_demo / "studio", short_demo / "live")
    # Greedy decoding only: the random model's babble sends Whisper's temperature fallback into
    # minutes of sampling. Word times are on, as in training, so the anchor path runs too; the
    # random "words" and their times are noise, so the anchors may pull the path off, and the
    # cost limit is lifted to test the lyrics gate alone.
    transcriber = Transcriber(
        tiny_whisper, cache_dir=tmp_path / "transcripts", language="en", temperatures=(0.0,)
    )
    kwargs = {"align": "lyrics", "transcriber": transcriber, "cache_dir": tmp_path}
    kwargs.update(max_align_cost=10.0, progress=False)
    try:
        accepted = prepare_pairs(*dirs, min_lyric_similarity=0.0, **kwargs)
    except DataError as error:
        accepted, rejection = None, str(error)
    assert transcriber.model_runs == 2
    # Whatever the random model "heard" is now cached; the gate must agree with it.
    studio = transcriber.transcribe(next(dirs[0].glob("*.wav")))
    live = transcriber.transcribe(next(dirs[1].glob("*.wav")))
    assert transcriber.model_runs == 2
    assert all(0 <= start <= end for start, end, _ in studio.words + live.words)
    if not lyric_words(studio.text) or not lyric_words(live.text):
        assert accepted is None and "no words recognised" in rejection
        return
    expected = lyric_similarity(studio.text, live.text)
    assert accepted.songs[0].lyric_similarity == pytest.approx(expected)
    assert accepted.songs[0].lyric_anchors == len(lyric_anchors(studio, live))
    if expected < 1.0:
        with pytest.raises(DataError, match="lyric similarity"):
            prepare_pairs(*dirs, min_lyric_similarity=expected + 1e-3, **kwargs)


def test_missing_whisper_model_fails_once_not_per_pair(short_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingDependencyError, match="not found"):
        prepare_pairs(
            short_demo / "studio",
            short_demo / "live",
            align="lyrics",
            whisper_model="base",
            cache_dir=tmp_path,
            progress=False,
        )
