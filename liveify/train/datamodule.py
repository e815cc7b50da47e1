"""`LiveifyDataModule`: aligned studio/live songs -> split by song -> fixed context windows."""

from __future__ import annotations

import logging
import os
import warnings

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from liveify.data.augment import AugmentConfig
from liveify.errors import DataError, ParameterError
from liveify.mel import MelConfig

logger = logging.getLogger(__name__)


class TorchWindows(Dataset):
    """A torch view of `liveify.data.dataset.WindowDataset`: items become dicts of tensors.

    `{"studio": (1, n_mels, T), "live": (1, n_mels, T)}` float32; the default collate stacks
    them into `(B, 1, n_mels, T)` batches.
    """

    def __init__(self, windows):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        studio, live = self.windows[index]
        return {"studio": torch.from_numpy(studio), "live": torch.from_numpy(live)}

    def set_epoch(self, epoch: int) -> None:
        self.windows.set_epoch(epoch)


class LiveifyDataModule(pl.LightningDataModule):
    """Aligned studio/live songs -> split by song -> fixed context windows for Lightning.

    Windows: every song is cut on the same grid as rendering (`liveify.windows`, 50 % overlap by
    default, the tail padded with the silent level), for training and validation alike. Fixed
    windows rather than random crops keep validation exactly repeatable and teach the model the
    padded song ends it meets at render time; with 50 % overlap every frame is seen at two
    positions in the window, so content is not tied to one position embedding.

    Augmentation (SpecAugment + noise, `liveify.data.augment`) applies to training windows only,
    drawn from a generator seeded by (seed, epoch, window), so results do not depend on the number
    of workers; validation windows are never augmented.

    Preparation (pairing, alignment) runs in `prepare_data`, once per node, and fills the cache;
    `setup` on every process then loads from that cache. Pass `prepared` (a `PreparedData`) to
    skip preparation. `development_mode` uses only the first song pair (in pairing order) for
    training and validation alike, for fast iteration; otherwise at least two pairs are needed.

    Examples
    --------
    >>> datamodule = LiveifyDataModule("studio/", "live/", mel_config=MelConfig())
    >>> trainer.fit(module, datamodule=datamodule)  # doctest: +SKIP
    """

    def __init__(  # noqa: PLR0913  the data options of `liveify train`, one keyword each
        self,
        studio_dir: str | os.PathLike | None = None,
        live_dir: str | os.PathLike | None = None,
        *,
        mel_config: MelConfig,
        prepared=None,
        batch_size: int = 8,
        num_workers: int = 0,
        train_split: float = 0.8,
        window_overlap: float = 0.5,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        development_mode: bool = False,
        prepare_options: dict | None = None,
        progress: bool = True,
    ):
        super().__init__()
        if prepared is None and (studio_dir is None or live_dir is None):
            raise ParameterError("pass studio_dir and live_dir, or prepared data")
        self.studio_dir, self.live_dir = studio_dir, live_dir
        self.mel_config = mel_config
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.train_split = train_split
        self.window_overlap = window_overlap
        self.augment = augment
        self.seed = seed
        self.development_mode = development_mode
        self.prepare_options = dict(prepare_options or {})
        if development_mode:
            self.prepare_options["max_pairs"] = 1
        self.progress = progress
        self._prepared = prepared
        self.train_songs: list[str] | None = None
        self.val_songs: list[str] | None = None
        self.train_dataset: TorchWindows | None = None
        self.val_dataset: TorchWindows | None = None

    def _prepare(self, *, verbose: bool):
        from liveify.data.dataset import prepare_pairs

        prepared = prepare_pairs(
            self.studio_dir,
            self.live_dir,
            mel_config=self.mel_config,
            progress=verbose and self.progress,
            **self.prepare_options,
        )
        if verbose:
            logger.info(prepared.summary_lines()[0])
        return prepared

    def prepare_data(self) -> None:
        if self._prepared is None:
            self._prepared = self._prepare(verbose=True)

    def setup(self, stage: str | None = None) -> None:
        from liveify.data.dataset import WindowDataset, split_by_song

        if self.train_dataset is not None:
            return
        if self._prepared is None:  # another process than the one that ran prepare_data
            self._prepared = self._prepare(verbose=False)
        songs = self._prepared.songs
        if self.development_mode:
            songs = songs[:1]
        elif len(songs) < 2:
            raise DataError(
                f"training needs at least 2 song pairs (one for validation); got {len(songs)} "
                "(--development-mode trains and validates on the first pair alone)"
            )
        with warnings.catch_warnings():  # one song on purpose: the run's notes say so
            warnings.simplefilter("ignore", UserWarning)
            train_songs, val_songs = split_by_song(songs, self.train_split, self.seed)
        self.train_songs = [song.studio_path.stem for song in train_songs]
        self.val_songs = [song.studio_path.stem for song in val_songs]
        frames = self.mel_config.context_frames
        self.train_dataset = TorchWindows(
            WindowDataset(
                train_songs,
                frames,
                self.window_overlap,
                augment_config=self.augment,
                seed=self.seed,
            )
        )
        self.val_dataset = TorchWindows(
            WindowDataset(val_songs, frames, self.window_overlap, augment_config=None)
        )

    def set_epoch(self, epoch: int) -> None:
        """Fresh augmentation draws each epoch (called by the LightningModule)."""
        if self.train_dataset is not None:
            self.train_dataset.set_epoch(epoch)

    def _loader(self, dataset: TorchWindows, *, shuffle: bool) -> DataLoader:
        on_cuda = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=on_cuda,
            # Not persistent: workers are forked again each epoch and see the new epoch number.
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        if self.trainer is not None:  # also right after resuming mid-run
            self.set_epoch(self.trainer.current_epoch)
        return self._loader(self.train_dataset, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, shuffle=False)
