"""Lyric check for `--align lyrics`: Whisper transcripts of both versions and their similarity.

Whisper weights are only ever read from disk (a checkpoint path, or a model name already in the
Whisper cache); nothing is downloaded. Transcripts are cached by audio content and model.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from liveify.data.cache import DigestIndex, atomic_replace, settings_digest
from liveify.errors import MissingDependencyError, ModelFileError

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


def load_whisper(model_name_or_path: str | Path, *, device: str = "cpu"):
    """Load a Whisper model from a local checkpoint path or a cached model name (no download).

    The checkpoint is read with `torch.load(..., weights_only=True)` by Whisper's own loader.
    """
    whisper = _import_whisper()
    checkpoint = resolve_whisper_checkpoint(model_name_or_path)
    try:
        model = whisper.load_model(str(checkpoint.resolve()), device=device)
    except Exception as error:  # torch raises RuntimeError/UnpicklingError/KeyError on bad files
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelFileError(
            f"{checkpoint}: not a loadable Whisper checkpoint ({first_line})"
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
    """What Whisper heard in one recording."""

    text: str
    language: str
    segments: list[tuple[float, float, str]]  # (start_s, end_s, text)


class Transcriber:
    """Whisper transcripts with a disk cache keyed by audio content, checkpoint and options.

    The model is loaded on the first cache miss only, so a fully cached run needs no weights.
    `model_runs` counts transcriptions actually computed.

    >>> transcriber = Transcriber("base", cache_dir="~/.cache/liveify/transcripts")
    >>> transcriber.transcribe("studio/01 Song.wav").text
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        cache_dir: str | Path,
        device: str = "cpu",
        language: str | None = None,
        temperatures: tuple[float, ...] = DEFAULT_TEMPERATURES,
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
                stored["text"], stored["language"], [tuple(s) for s in stored["segments"]]
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
        )
        payload = json.dumps(
            {"text": transcript.text, "language": transcript.language, "segments": transcript.segments,
             "audio": Path(audio_path).name, "model": self.model_id},
            ensure_ascii=False,
            indent=1,
        ).encode("utf-8")  # fmt: skip
        atomic_replace(cache_path, lambda stream: stream.write(payload))
        return transcript
