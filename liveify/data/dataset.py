"""From folders of studio and live recordings to aligned mel pairs, song splits and windows.

Framework-free numpy: `liveify.train` wraps `WindowDataset` in a torch Dataset.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liveify.data.align import AlignConfig, align_recordings
from liveify.data.augment import AugmentConfig, augment
from liveify.data.cache import PairCache
from liveify.data.lyrics import DEFAULT_WHISPER_MODEL
from liveify.data.pairing import pair_or_fail
from liveify.errors import AudioFileError, DataError, ParameterError
from liveify.mel import SILENT_LEVEL, MelConfig
from liveify.windows import split_windows, window_starts

logger = logging.getLogger(__name__)

ALIGN_METHODS = ("dtw", "lyrics")
#: Mean DTW frame cost above which a pair is rejected. Demo pairs cost 0.03-0.06 and pairs of
#: different demo songs 0.27-0.40; real live takes (vocals, crowd, changed arrangements) sit higher
#: than demo pairs, so the default leaves room. Raise it with --max-align-cost if good pairs are
#: rejected, lower it if a wrong song slips through.
DEFAULT_MAX_ALIGN_COST = 0.2
#: Lyric similarity (difflib ratio over words) below which a pair is rejected in `--align lyrics`.
DEFAULT_MIN_LYRIC_SIMILARITY = 0.5


def default_cache_dir() -> Path:
    """$LIVEIFY_CACHE_DIR, else $XDG_CACHE_HOME/liveify, else ~/.cache/liveify."""
    if os.getenv("LIVEIFY_CACHE_DIR"):
        return Path(os.environ["LIVEIFY_CACHE_DIR"]).expanduser()
    base = os.getenv("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "liveify"


@dataclass
class SongPair:
    """One song: the studio mel and the live mel warped onto the studio frames.

    Both mels are (n_mels, frames) in the normalised range [-1, 1], and frame i of `live_mel` is
    the moment of the live take that plays studio frame i. They are float16 (the cache format,
    ~0.02 dB steps; half the memory of float32, and a cached and a fresh preparation are
    identical); `song_windows` and `WindowDataset` hand out float32 windows.
    """

    key: str
    studio_path: Path
    live_path: Path
    studio_mel: np.ndarray
    live_mel: np.ndarray
    align_cost: float
    lyric_similarity: float | None = None
    lyric_anchors: int | None = None  # anchors that constrained the alignment (--align lyrics)

    @property
    def n_frames(self) -> int:
        return self.studio_mel.shape[1]

    def __repr__(self) -> str:
        return (
            f"<SongPair {self.key!r}: {self.n_frames} frames, align cost {self.align_cost:.3f}"
            + (f", lyrics {self.lyric_similarity:.2f}" if self.lyric_similarity is not None else "")
            + (f", {self.lyric_anchors} anchors" if self.lyric_anchors is not None else "")
            + ">"
        )


@dataclass
class PreparedData:
    """Usable songs, the pairs rejected (with why), and the files that found no partner."""

    songs: list[SongPair]
    rejected: list[tuple[str, str]] = field(default_factory=list)
    unmatched_studio: list[Path] = field(default_factory=list)
    unmatched_live: list[Path] = field(default_factory=list)
    mel_config: MelConfig = field(default_factory=MelConfig)
    cache_hits: int = 0
    cache_misses: int = 0

    def summary_lines(self) -> list[str]:
        """What happened, for the CLI: counts, then one line per rejected or unmatched file."""
        lines = [
            f"{len(self.songs)} song pairs ready ({self.cache_hits} from cache), "
            f"{len(self.rejected)} rejected, {len(self.unmatched_studio)} studio and "
            f"{len(self.unmatched_live)} live files unmatched"
        ]
        lines += [f"rejected {key}: {reason}" for key, reason in self.rejected]
        lines += [f"unmatched studio file: {path}" for path in self.unmatched_studio]
        lines += [f"unmatched live file: {path}" for path in self.unmatched_live]
        return lines


def _check_alignment_settings(align: str, max_align_cost: float, min_lyric_similarity: float):
    if align not in ALIGN_METHODS:
        raise ParameterError(f"align must be one of {', '.join(ALIGN_METHODS)}; got {align!r}")
    if max_align_cost <= 0:
        raise ParameterError(f"max_align_cost must be > 0; got {max_align_cost}")
    if not 0.0 <= min_lyric_similarity <= 1.0:
        raise ParameterError(f"min_lyric_similarity must be in [0, 1]; got {min_lyric_similarity}")


def prepare_pairs(  # noqa: PLR0913  the data options of `liveify train` and `prepare`, one keyword each
    studio_dir: str | Path,
    live_dir: str | Path,
    *,
    mel_config: MelConfig | None = None,
    align: str = "dtw",
    align_config: AlignConfig | None = None,
    max_align_cost: float = DEFAULT_MAX_ALIGN_COST,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    whisper_model: str | Path = DEFAULT_WHISPER_MODEL,
    min_lyric_similarity: float = DEFAULT_MIN_LYRIC_SIMILARITY,
    whisper_device: str = "cpu",
    transcriber=None,
    max_pairs: int | None = None,
    progress: bool = True,
) -> PreparedData:
    """Pair, align and (from cache when possible) load every studio/live song of two folders.

    Parameters
    ----------
    studio_dir, live_dir : folders of audio files, paired by `liveify.data.pairing.song_key`.
    mel_config : the model's mel settings (default `MelConfig()`).
    align : "dtw" (chroma + onset DTW) or "lyrics": Whisper transcripts of both versions must
        reach `min_lyric_similarity`, and the moments where both sing the same words
        (`liveify.data.lyrics.lyric_anchors`) constrain the DTW path; the frame warp still comes
        from DTW, since word times are far coarser than mel frames.
    align_config : DTW settings (part of the cache key).
    max_align_cost : pairs whose mean DTW cost is higher are rejected (not part of the cache key:
        changing it re-judges cached pairs without recomputing them).
    cache_dir : where aligned pairs and transcripts are cached (default `default_cache_dir()`).
    use_cache : False recomputes everything and writes nothing.
    whisper_model : Whisper model name (in the local Whisper cache) or checkpoint path.
    min_lyric_similarity : lyric similarity in [0, 1] below which `align="lyrics"` rejects a pair.
    transcriber : a ready `liveify.data.lyrics.Transcriber` for `align="lyrics"` (its model, cache
        and decoding options), instead of one made from `whisper_model` and `whisper_device`.
    max_pairs : use only the pairs of the first this many studio files by name (development
        mode: 1).
    progress : show a progress bar (stderr).

    Each unmatched file and rejected pair is logged (INFO, `liveify.data`).

    Raises
    ------
    DataError
        When no pair matched, or every matched pair was rejected (the reasons are in the message).
    """
    from tqdm import tqdm

    mel_config = mel_config or MelConfig()
    align_config = align_config or AlignConfig()
    _check_alignment_settings(align, max_align_cost, min_lyric_similarity)
    pairing = pair_or_fail(studio_dir, live_dir)
    pairs = pairing.pairs
    if max_pairs is not None:  # the first pairs as the studio folder lists them (track order)
        first = sorted(pairs, key=lambda pair: pair.studio.name)[:max_pairs]
        pairs = [pair for pair in pairs if pair in first]
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache = pair_cache(root) if use_cache else None
    if align != "lyrics":
        transcriber = None
    elif transcriber is None:
        from liveify.data.lyrics import Transcriber

        transcriber = Transcriber(
            whisper_model, cache_dir=root / "transcripts", device=whisper_device
        )
        transcriber.model_id  # noqa: B018 - a missing checkpoint fails here, once, not per pair

    songs: list[SongPair] = []
    rejected: list[tuple[str, str]] = []
    bar = tqdm(pairs, desc="Preparing pairs", unit="song", disable=not progress, file=sys.stderr)
    for pair in bar:
        bar.set_postfix_str(pair.key[:30])
        try:
            song, reason = _prepare_pair_with_lyrics(
                pair, cache, mel_config, align_config, transcriber, min_lyric_similarity
            )
            if reason is None and song.align_cost > max_align_cost:
                anchored = (
                    ""
                    if song.lyric_anchors is None
                    else f" with {song.lyric_anchors} lyric anchors"
                )
                reason = (
                    f"alignment cost {song.align_cost:.3f}{anchored} is above --max-align-cost "
                    f"{max_align_cost:g} (different arrangement or not the same song?)"
                )
        except (AudioFileError, DataError) as error:  # one bad file must not stop the others
            reason = str(error)
        if reason is None:
            songs.append(song)
        else:
            rejected.append((pair.key, reason))
    bar.close()
    for key, reason in rejected:
        logger.info("rejected %s: %s", key, reason)
    if not songs:
        details = "; ".join(f"{key}: {reason}" for key, reason in rejected[:5])
        raise DataError(f"all {len(rejected)} song pairs were rejected ({details})")
    return PreparedData(
        songs=songs,
        rejected=rejected,
        unmatched_studio=pairing.unmatched_studio,
        unmatched_live=pairing.unmatched_live,
        mel_config=mel_config,
        cache_hits=cache.hits if cache else 0,
        cache_misses=cache.misses if cache else len(pairs),
    )


def pair_cache(cache_dir: str | Path | None = None) -> PairCache:
    """The cache of aligned pairs in `cache_dir` (default `default_cache_dir()`)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return PairCache(root / "pairs")


def prepare_pair(
    pair,
    cache: PairCache | None,
    *,
    mel_config: MelConfig,
    align_config: AlignConfig,
    anchors: list[tuple[float, float]] | None = None,
) -> SongPair:
    """One pair's aligned mels as `prepare_pairs` makes them: from `cache`, or aligned now and
    cached (`liveify prepare` runs this for many pairs at once). `anchors` (lyric anchors,
    `--align lyrics`) constrain the alignment and are part of the cache key."""
    settings = {"mel": mel_config.to_dict(), "align": align_config.to_dict()}
    if anchors is not None:
        settings["anchors"] = [[round(s, 3), round(t, 3)] for s, t in anchors]
    return _load_or_align(pair, cache, settings, mel_config, align_config, anchors)


def _prepare_pair_with_lyrics(pair, cache, mel_config, align_config, transcriber, min_similarity):
    """One pair aligned (with lyric anchors when `transcriber` is given), or None and the reason
    the lyrics rejected it (checked first, so a rejected pair costs no alignment)."""
    if transcriber is None:
        return prepare_pair(pair, cache, mel_config=mel_config, align_config=align_config), None
    from liveify.data.lyrics import lyric_anchors, lyric_similarity

    studio, live = transcriber.transcribe(pair.studio), transcriber.transcribe(pair.live)
    similarity = lyric_similarity(studio.text, live.text)
    if not studio.text.strip() or not live.text.strip():
        return None, "no words recognised in one version (instrumental? use --align dtw)"
    if similarity < min_similarity:
        return None, (
            f"lyric similarity {similarity:.2f} is below --min-lyric-similarity {min_similarity:g}"
        )
    anchors = lyric_anchors(studio, live)
    song = prepare_pair(
        pair, cache, mel_config=mel_config, align_config=align_config, anchors=anchors
    )
    song.lyric_similarity = similarity
    song.lyric_anchors = len(anchors)
    return song, None


def _load_or_align(
    pair,
    cache: PairCache | None,
    settings: dict,
    mel_config: MelConfig,
    align_config: AlignConfig,
    anchors: list[tuple[float, float]] | None = None,
) -> SongPair:
    """One pair's aligned mels: from the cache, or aligned now (and cached)."""
    key = cache.key(pair.studio, pair.live, settings) if cache else None
    stored = cache.load(key) if cache else None
    if stored is not None:
        return SongPair(
            key=pair.key,
            studio_path=pair.studio,
            live_path=pair.live,
            studio_mel=stored["studio_mel"],
            live_mel=stored["live_mel"],
            align_cost=float(stored["align_cost"]),
        )
    aligned = align_recordings(
        pair.studio, pair.live, mel_config=mel_config, align_config=align_config, anchors=anchors
    )
    studio_half = aligned.studio_mel.astype(np.float16)
    live_half = aligned.live_mel.astype(np.float16)
    if cache:
        cache.save(
            key,
            {
                "studio_mel": studio_half,
                "live_mel": live_half,
                "align_cost": np.float64(aligned.alignment.cost),
                "live_frame": aligned.alignment.live_frame.astype(np.float32),
            },
        )
    return SongPair(
        key=pair.key,
        studio_path=pair.studio,
        live_path=pair.live,
        studio_mel=studio_half,
        live_mel=live_half,
        align_cost=aligned.alignment.cost,
    )


def split_by_song(
    songs: Sequence[SongPair], train_split: float = 0.8, seed: int = 0
) -> tuple[list[SongPair], list[SongPair]]:
    """Split songs (never windows) into training and validation sets, reproducibly for a seed.

    With n >= 2 songs, validation gets round(n * (1 - train_split)) songs, at least one and at
    most n - 1. A single song is used for both, with a warning: validation loss then measures how
    well the model fits that song, not how it generalises.
    """
    if not 0.0 < train_split < 1.0:
        raise ParameterError(f"train_split must be between 0 and 1 (exclusive); got {train_split}")
    if not songs:
        raise DataError("no songs to split into training and validation sets")
    if len(songs) == 1:
        warnings.warn(
            f"only one song ({songs[0].key!r}): it is used for training and validation, so "
            "validation loss measures fit, not generalisation; add more pairs for a real split",
            UserWarning,
            stacklevel=2,
        )
        return [songs[0]], [songs[0]]
    n_val = min(len(songs) - 1, max(1, round(len(songs) * (1.0 - train_split))))
    order = np.random.default_rng(seed).permutation(len(songs))
    val_indices = set(order[:n_val].tolist())
    train = [song for index, song in enumerate(songs) if index not in val_indices]
    val = [song for index, song in enumerate(songs) if index in val_indices]
    return train, val


def song_windows(
    song: SongPair, window_frames: int, overlap: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All context windows of one song as float32: studio (n, n_mels, window_frames), live (same),
    and their start frames. Frames past the end are padded with the silent level, as in rendering.
    """
    studio, starts = split_windows(
        song.studio_mel.astype(np.float32), window_frames, overlap, pad_value=SILENT_LEVEL
    )
    live, _ = split_windows(
        song.live_mel.astype(np.float32), window_frames, overlap, pad_value=SILENT_LEVEL
    )
    return studio, live, starts


class WindowDataset:
    """Indexable (studio window, live window) pairs over songs, cut on the fly without copies
    of whole songs; optional augmentation of the studio (input) window.

    Item i is a pair of float32 arrays shaped (1, n_mels, window_frames). Augmentation draws from
    a generator seeded by (seed, epoch, i), so any worker process reproduces the same sample;
    call `set_epoch` each epoch for fresh draws. Use `augment_config=None` for validation.

    >>> mel = np.zeros((128, 3000), np.float16)
    >>> train_songs = [SongPair("song", Path("s.flac"), Path("l.flac"), mel, mel, align_cost=0.1)]
    >>> train_set = WindowDataset(train_songs, window_frames=1408, augment_config=AugmentConfig())
    >>> studio_window, live_window = train_set[0]
    >>> len(train_set), studio_window.shape
    (4, (1, 128, 1408))
    """

    def __init__(
        self,
        songs: Sequence[SongPair],
        window_frames: int,
        overlap: float = 0.5,
        *,
        augment_config: AugmentConfig | None = None,
        seed: int = 0,
    ):
        if not songs:
            raise DataError("no songs to cut windows from")
        self.songs = list(songs)
        self.window_frames = int(window_frames)
        self.overlap = float(overlap)
        self.augment_config = augment_config
        self.seed = int(seed)
        self.epoch = 0
        index = [
            (song_index, int(start))
            for song_index, song in enumerate(self.songs)
            for start in window_starts(song.n_frames, self.window_frames, self.overlap)
        ]
        self._index = np.array(index, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        augmented = "augmented" if self.augment_config and self.augment_config.enabled else "plain"
        return f"<WindowDataset {len(self)} {augmented} windows of {self.window_frames} frames from {len(self.songs)} songs>"

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def window(self, mel: np.ndarray, start: int) -> np.ndarray:
        piece = mel[:, start : start + self.window_frames]
        if piece.shape[1] < self.window_frames:
            padded = np.full((mel.shape[0], self.window_frames), SILENT_LEVEL, dtype=np.float32)
            padded[:, : piece.shape[1]] = piece
            piece = padded
        return np.ascontiguousarray(piece, dtype=np.float32)[np.newaxis]

    def __getitem__(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        song_index, start = self._index[item]
        song = self.songs[song_index]
        studio = self.window(song.studio_mel, start)
        live = self.window(song.live_mel, start)
        if self.augment_config is not None and self.augment_config.enabled:
            rng = np.random.default_rng([self.seed, self.epoch, int(item)])
            studio = augment(studio, self.augment_config, rng)
        return studio, live
