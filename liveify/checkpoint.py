"""Model checkpoints: plain `.pt` files and Lightning `.ckpt` files, and the run folders of
`liveify train`.

Every file is read with `torch.load(..., weights_only=True)`: a checkpoint holding arbitrary
pickled objects is refused. Run folders: each training run writes `CHECKPOINT_DIR/version_N/`
(`best.ckpt`, `last.ckpt`), and `CHECKPOINT_DIR/best.ckpt` and `last.ckpt` are links to the
newest run's files (copies where the file system has no symbolic links).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch

from liveify.errors import ModelFileError, ParameterError, first_line
from liveify.files import atomic_path
from liveify.model import LiveifyModel
from liveify.model_config import ModelConfig

#: Lightning's checkpoint keeps the network's weights under the LightningModule's attribute.
LIGHTNING_PREFIX = "model."
RUN_FOLDER = re.compile(r"version_(\d+)$")


def save_checkpoint(
    path: str | os.PathLike,
    model: LiveifyModel,
    config: ModelConfig | None = None,
    extra: dict | None = None,
) -> Path:
    """Write a plain checkpoint `{"model_config", "state_dict", **extra}` atomically.

    `extra` holds plain data only (dicts, lists, strings, numbers, tensors) so the file loads
    with `weights_only=True`; by convention `mel_config` (a `MelConfig.to_dict()`) and
    `training_info` (songs, epochs, val_loss, ...).
    """
    path = Path(path)
    config = model.config if config is None else config
    extra = dict(extra or {})
    reserved = {"model_config", "state_dict"} & set(extra)
    if reserved:
        raise ParameterError(f"extra must not contain {sorted(reserved)}; they are written here")
    for key, value in extra.items():
        if hasattr(value, "to_dict"):
            extra[key] = value.to_dict()
    payload = {"model_config": config.to_dict(), "state_dict": model.state_dict(), **extra}
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return path


def lightning_training_info(checkpoint: dict) -> dict:
    """Epoch, step, best validation loss and any extra hyper-parameters of a Lightning file."""
    info = {key: checkpoint[key] for key in ("epoch", "global_step") if key in checkpoint}
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if "ModelCheckpoint" in str(key) and isinstance(state, dict):
            score = state.get("best_model_score")
            if score is not None:
                info["best_score"] = float(score)
                info["monitor"] = str(state.get("monitor"))
    hyper = dict(checkpoint.get("hyper_parameters") or {})
    for key, value in hyper.items():
        if key not in ("model_config", "mel_config"):
            info[key] = value
    return info


def _read(path: Path) -> dict:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, zip errors, ... all mean "not usable"
        raise ModelFileError(
            f"{path}: cannot load as a weights-only torch checkpoint ({first_line(error)}); "
            "save plain tensors and dicts (liveify.checkpoint.save_checkpoint)"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ModelFileError(f"{path}: not a Liveify checkpoint (no state_dict)")
    return checkpoint


def load_checkpoint(path: str | os.PathLike) -> tuple[LiveifyModel, ModelConfig, dict]:
    """Load a Lightning checkpoint or a plain `.pt` into an eval-mode `LiveifyModel`.

    Returns the model, its config and `info` with keys `format` ("lightning"/"plain"),
    `mel_config` (dict or None) and `training_info` (dict). Configs written before layer counts
    were totals load as the network they were trained as (see `liveify.model_config`).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: checkpoint not found; pass a .ckpt or .pt file")
    checkpoint = _read(path)
    if "hyper_parameters" in checkpoint:
        hyper = checkpoint["hyper_parameters"] or {}
        model_config, mel_config = hyper.get("model_config"), hyper.get("mel_config")
        state_dict = {
            key[len(LIGHTNING_PREFIX) :]: value
            for key, value in checkpoint["state_dict"].items()
            if key.startswith(LIGHTNING_PREFIX)
        }
        info = {"format": "lightning", "training_info": lightning_training_info(checkpoint)}
    else:
        model_config, mel_config = checkpoint.get("model_config"), checkpoint.get("mel_config")
        state_dict = checkpoint["state_dict"]
        info = {"format": "plain", "training_info": dict(checkpoint.get("training_info") or {})}
    if not isinstance(model_config, dict):
        raise ModelFileError(
            f"{path}: no model_config in the checkpoint; train with liveify train or save with "
            "liveify.checkpoint.save_checkpoint"
        )
    try:
        config = ModelConfig.from_dict(model_config)
    except ParameterError as error:
        raise ModelFileError(f"{path}: bad model_config ({error})") from None
    model = LiveifyModel(config)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ModelFileError(
            f"{path}: weights do not match model_config ({first_line(error)})"
        ) from None
    model.eval()
    info["mel_config"] = dict(mel_config) if isinstance(mel_config, dict) else None
    return model, config, info


# --- run folders ---------------------------------------------------------------------------------


def run_folders(checkpoint_dir: str | os.PathLike) -> list[Path]:
    """The `version_N` folders of `checkpoint_dir`, oldest (lowest N) first."""
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        return []
    runs = [(int(match.group(1)), path) for path in folder.iterdir()
            if path.is_dir() and (match := RUN_FOLDER.match(path.name))]  # fmt: skip
    return [path for _, path in sorted(runs)]


def run_number(run_dir: str | os.PathLike) -> int | None:
    """N of a `version_N` folder, else None."""
    match = RUN_FOLDER.match(Path(run_dir).name)
    return int(match.group(1)) if match else None


def new_run_folder(checkpoint_dir: str | os.PathLike, *, taken: set[str] = frozenset()) -> Path:
    """Create and return the next `version_N` folder (N above every existing run and every name
    in `taken`, e.g. the logger's versions); safe when two runs start at once."""
    folder = Path(checkpoint_dir)
    folder.mkdir(parents=True, exist_ok=True)
    used = [int(match.group(1)) for name in taken if (match := RUN_FOLDER.match(name))]
    used += [int(RUN_FOLDER.match(path.name).group(1)) for path in run_folders(folder)]
    number = max(used, default=-1) + 1
    while True:
        try:
            (folder / f"version_{number}").mkdir()
            return folder / f"version_{number}"
        except FileExistsError:
            number += 1


def point_latest(checkpoint_dir: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Make `checkpoint_dir/<target's name>` name `target` (a relative link, replaced atomically;
    a copy where links are not allowed). Returns the link's path. A real file of that name (from
    before run folders) is kept, renamed `<name>-unversioned<suffix>`."""
    folder, target = Path(checkpoint_dir), Path(target)
    link = folder / target.name
    relative = os.path.relpath(target, folder)
    temporary = folder / f".{target.name}.{os.getpid()}.link"
    try:
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(relative)
        kept = folder / f"{target.stem}-unversioned{target.suffix}"
        if link.is_file() and not link.is_symlink() and not kept.exists():
            os.replace(link, kept)
        os.replace(temporary, link)
    except OSError:  # no symbolic links here (some Windows setups): copy instead
        temporary.unlink(missing_ok=True)
        with atomic_path(link) as copy:
            shutil.copyfile(target, copy)
    return link


def newest_best_checkpoint(checkpoint_dir: str | os.PathLike) -> Path:
    """The newest run's best checkpoint in `checkpoint_dir` (what `liveify export` exports by
    default): the `best.ckpt` link, else the best.ckpt of the highest `version_N`."""
    folder = Path(checkpoint_dir)
    link = folder / "best.ckpt"
    if link.is_file():
        return link.resolve()
    for run in reversed(run_folders(folder)):
        if (run / "best.ckpt").is_file():
            return run / "best.ckpt"
    raise ModelFileError(
        f"{folder}: no best.ckpt from a training run here; train with `liveify train` "
        "(or pass --checkpoint-dir), or name the checkpoint: liveify export PATH"
    )
