"""Lyrics for `--align lyrics`: Whisper transcripts of both versions, their similarity, and the
anchor points where the same words are sung in both.

Whisper weights are only ever read from disk (a checkpoint path, or a model name already in the
Whisper cache); nothing is downloaded. Transcripts (with word timestamps) are cached by audio
content and model. `lyric_anchors` works on transcripts alone, so it is tested on given data.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from liveify.data.cache import DigestIndex, settings_digest
from liveify.errors import MissingDependencyError, ModelFileError, first_line
from liveify.files import write_bytes_atomic

#: The Whisper model `--align lyrics` uses unless told otherwise (read from the local cache).
DEFAULT_WHISPER_MODEL = "base"
#: Whisper listens at 16 kHz.
WHISPER_SAMPLE_RATE_HZ = 16000
#: Decoding temperatures: greedy first, then Whisper's own fallback when a segment loops.
DEFAULT_TEMPERATURES = (0.0, 0.4, 0.8)
_WORD = re.compile(r"[0-9a-z]+(?:'[0-9a-z]+)*")


def whisper_cache_dir() -> Path:
    """Where Whisper keeps downloaded models: $XDG_CACHE_HOME/whisper or ~/.cache/whisper."""
    base = os.getenv("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "whisper"


def resolve_whisper_checkpoint(model_name_or_path: str | Path) -> Path:
    """The local checkpoint file for a Whisper model name or path; never downloads.

    Raises MissingDependencyError (one line, saying how to get the weights) when it is not there.
    """
    whisper = _import_whisper()
    candidate = Path(model_name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    name = str(model_name_or_path)
    models = whisper._MODELS
    if name not in models:
        raise MissingDependencyError(
            f"Whisper model {name!r} is neither a checkpoint file nor a model name "
            f"({', '.join(whisper.available_models())}); pass --whisper-model NAME or /path/to/model.pt"
        )
    cached = whisper_cache_dir() / os.path.basename(models[name])
    if cached.is_file():
        return cached
    raise MissingDependencyError(
        f"Whisper model {name!r} not found in {whisper_cache_dir()}; download it once with: "
        f"python -c \"import whisper; whisper.load_model('{name}')\" on a machine with internet, "
        f"or pass --whisper-model /path/to/{name}.pt"
    )


def _import_whisper():
    from liveify.errors import require

    return require("whisper", "lyrics")


def load_whisper(model_name_or_path: str | Path = DEFAULT_WHISPER_MODEL, *, device: str = "cpu"):
    """Load a Whisper model from a local checkpoint path or a cached model name (no download).

    The checkpoint is read with `torch.load(..., weights_only=True)` by Whisper's own loader.
    """
    whisper = _import_whisper()
    checkpoint = resolve_whisper_checkpoint(model_name_or_path)
    try:
        model = whisper.load_model(str(checkpoint.resolve()), device=device)
    except Exception as error:  # torch raises RuntimeError/UnpicklingError/KeyError on bad files
        raise ModelFileError(
            f"{checkpoint}: not a loadable Whisper checkpoint ({first_line(error)})"
        ) from None
    name = str(model_name_or_path)
    if name in whisper._ALIGNMENT_HEADS:
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
    return model


def lyric_words(text: str) -> list[str]:
    """Words of a transcript for comparison: accents, case and punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return _WORD.findall(plain.replace("’", "'"))


def lyric_similarity(studio_text: str, live_text: str) -> float:
    """Similarity in [0, 1] of two transcripts: difflib's ratio over their normalised words.

    0 when either has no words (nothing to compare: instrumental, or nothing recognised).
    """
    studio_words, live_words = lyric_words(studio_text), lyric_words(live_text)
    if not studio_words or not live_words:
        return 0.0
    return difflib.SequenceMatcher(None, studio_words, live_words, autojunk=False).ratio()


@dataclass(frozen=True)
class Transcript:
    """What Whisper heard in one recording: the text, its segments and its words, with times."""

    text: str
    language: str
    segments: list[tuple[float, float, str]]  # (start_s, end_s, text)
    words: list[tuple[float, float, str]] = field(default_factory=list)  # (start_s, end_s, word)


class Transcriber:
    """Whisper transcripts with a disk cache keyed by audio content, checkpoint and options.

    The model is loaded on the first cache miss only, so a fully cached run needs no weights.
    `model_runs` counts transcriptions actually computed.

    >>> transcriber = Transcriber("base", cache_dir="~/.cache/liveify/transcripts")  # doctest: +SKIP
    >>> transcriber.transcribe("studio/01 Song.wav").text  # Whisper weights  # doctest: +SKIP
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        cache_dir: str | Path,
        device: str = "cpu",
        language: str | None = None,
        temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES,
        word_timestamps: bool = True,
    ):
        self.model_name_or_path = model_name_or_path
        self.device = device
        self.language = language
        # Not conditioning on the previous text stops one hallucinated line (common over long
        # instrumentals) from repeating through the song.
        self.options = {
            "temperature": tuple(temperatures),
            "condition_on_previous_text": False,
            "fp16": device != "cpu",
            # Word times make the lyric anchors precise; without them (False: one decoding pass
            # instead of two) anchors fall back to segment starts and ends.
            "word_timestamps": word_timestamps,
        }
        self.digests = DigestIndex(cache_dir)
        self.cache_dir = self.digests.folder
        self.model_runs = 0
        self._model = None
        self._model_id: str | None = None

    def __repr__(self) -> str:
        return f"<Transcriber whisper={self.model_name_or_path!s} cache={self.cache_dir} runs={self.model_runs}>"

    @property
    def model_id(self) -> str:
        """Checkpoint file name and content digest: the same weights give the same id."""
        if self._model_id is None:
            checkpoint = resolve_whisper_checkpoint(self.model_name_or_path)
            self._model_id = f"{checkpoint.stem}-{self.digests.digest(checkpoint)[:16]}"
        return self._model_id

    def _cache_path(self, audio_path: str | Path) -> Path:
        settings = {
            "options": self.options,
            "language": self.language,
            "model": self.model_id,
        }
        audio_digest = self.digests.digest(audio_path)[:32]
        return self.cache_dir / f"transcript-{audio_digest}-{settings_digest(settings)[:16]}.json"

    def transcribe(self, audio_path: str | Path) -> Transcript:
        """Transcript of `audio_path`, from the cache when this audio and model were seen before."""
        cache_path = self._cache_path(audio_path)
        try:
            with open(cache_path, encoding="utf-8") as handle:
                stored = json.load(handle)
            return Transcript(
                stored["text"],
                stored["language"],
                [tuple(segment) for segment in stored["segments"]],
                [tuple(word) for word in stored["words"]],
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing or unreadable: transcribe again
        from liveify.data.align import load_mono

        if self._model is None:
            self._model = load_whisper(self.model_name_or_path, device=self.device)
        audio = load_mono(audio_path, WHISPER_SAMPLE_RATE_HZ)
        result = self._model.transcribe(audio, language=self.language, verbose=None, **self.options)
        self.model_runs += 1
        transcript = Transcript(
            text=result["text"].strip(),
            language=result.get("language") or "",
            segments=[
                (round(float(s["start"]), 3), round(float(s["end"]), 3), s["text"].strip())
                for s in result["segments"]
            ],
            words=[
                (round(float(w["start"]), 3), round(float(w["end"]), 3), w["word"].strip())
                for s in result["segments"]
                for w in s.get("words", ())
            ],
        )
        payload = json.dumps(
            {"text": transcript.text, "language": transcript.language, "segments": transcript.segments,
             "words": transcript.words, "audio": Path(audio_path).name, "model": self.model_id},
            ensure_ascii=False,
            indent=1,
        ).encode("utf-8")  # fmt: skip
        write_bytes_atomic(cache_path, payload)
        return transcript


# --- anchors: where the same words are sung in both versions -------------------------------------

#: Segments (lines) whose lyric similarity is below this are not taken as the same line.
MIN_SEGMENT_SIMILARITY = 0.6
#: A tempo ratio between consecutive anchors outside [1/2, 2] is beyond what the DTW path may
#: follow (its steps are (1,1), (1,2), (2,1)), so such an anchor is a mismatch ...
MAX_TEMPO_RATIO = 2.0
#: ... allowing for Whisper's word times, which are off by a few hundred milliseconds.
TIMING_SLACK_S = 0.5


def lyric_anchors(
    studio: Transcript,
    live: Transcript,
    *,
    min_segment_similarity: float = MIN_SEGMENT_SIMILARITY,
) -> list[tuple[float, float]]:
    """(studio_s, live_s) moments where both versions sing the same words, in time order.

    Segments (Whisper's lines) are matched in order by text similarity (the best-scoring
    monotonic matching of pairs at least `min_segment_similarity` alike, so banter and an extra
    chorus are skipped); within each matched pair, the words both sing (difflib's matching blocks)
    become anchors at their start times, or the segment's start and end when Whisper gave no word
    times. Anchors that break time order or imply a tempo change beyond 2x are dropped, so any
    two kept anchors can lie on one DTW path.
    """
    anchors: list[tuple[float, float]] = []
    for studio_segment, live_segment in _matched_segments(
        studio.segments, live.segments, min_segment_similarity
    ):
        studio_words = _words_within(studio.words, studio_segment)
        live_words = _words_within(live.words, live_segment)
        if studio_words and live_words:
            anchors += _matched_word_times(studio_words, live_words)
        else:
            anchors += [(studio_segment[0], live_segment[0]), (studio_segment[1], live_segment[1])]
    return _consistent_chain(sorted(set(anchors)))


def _matched_segments(studio_segments, live_segments, threshold: float):
    """The monotonic matching of segment pairs with the highest total similarity (>= threshold)."""
    rows, cols = len(studio_segments), len(live_segments)
    score = [[0.0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            similarity = lyric_similarity(studio_segments[i - 1][2], live_segments[j - 1][2])
            matched = score[i - 1][j - 1] + similarity if similarity >= threshold else -1.0
            score[i][j] = max(score[i - 1][j], score[i][j - 1], matched)
    pairs = []
    i, j = rows, cols
    while i > 0 and j > 0:
        if score[i][j] == score[i - 1][j]:
            i -= 1
        elif score[i][j] == score[i][j - 1]:
            j -= 1
        else:
            pairs.append((studio_segments[i - 1], live_segments[j - 1]))
            i, j = i - 1, j - 1
    return pairs[::-1]


def _words_within(words, segment) -> list[tuple[float, str]]:
    """(start_s, normalised word) of the words starting inside `segment` (start, end, text)."""
    start_s, end_s = segment[0], segment[1]
    return [
        (word_start, normalised)
        for word_start, _, word in words
        if start_s <= word_start < end_s or start_s == end_s == word_start
        for normalised in lyric_words(word)[:1]
    ]


def _matched_word_times(studio_words, live_words) -> list[tuple[float, float]]:
    matcher = difflib.SequenceMatcher(
        None, [word for _, word in studio_words], [word for _, word in live_words], autojunk=False
    )
    return [
        (studio_words[a + k][0], live_words[b + k][0])
        for a, b, size in matcher.get_matching_blocks()
        for k in range(size)
    ]


def _consistent_chain(anchors: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The longest chain of anchors increasing in both times, each step's tempo within 2x."""
    if not anchors:
        return []

    def compatible(earlier, later) -> bool:
        studio_step, live_step = later[0] - earlier[0], later[1] - earlier[1]
        if studio_step <= 0 or live_step <= 0:
            return False
        low, high = studio_step / MAX_TEMPO_RATIO, studio_step * MAX_TEMPO_RATIO
        return low - TIMING_SLACK_S <= live_step <= high + TIMING_SLACK_S

    length = [1] * len(anchors)
    previous = [-1] * len(anchors)
    for later in range(len(anchors)):
        for earlier in range(later):
            if length[earlier] + 1 > length[later] and compatible(anchors[earlier], anchors[later]):
                length[later], previous[later] = length[earlier] + 1, earlier
    index = max(range(len(anchors)), key=length.__getitem__)
    chain = []
    while index >= 0:
        chain.append(anchors[index])
        index = previous[index]
    return chain[::-1]
