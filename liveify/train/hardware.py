"""Where and how a run computes: accelerator, precision, devices and data-loader workers."""

from __future__ import annotations

import torch

from liveify.errors import ParameterError
from liveify.model_file import physical_cores
from liveify.train.options import PRECISION_CHOICES

#: Lightning's own reading of the short precision names: "16"/"bf16" mean mixed precision.
_PRECISION_FLAGS = {
    "32": "32-true",
    "16": "16-mixed",
    "bf16": "bf16-mixed",
    "16-mixed": "16-mixed",
    "bf16-mixed": "bf16-mixed",
}
assert set(_PRECISION_FLAGS) == set(PRECISION_CHOICES)


def resolve_precision(precision: str, accelerator: str) -> tuple[str, str | None]:
    """Lightning precision flag for `precision` on `accelerator`, and a note if it fell back.

    "16" and "bf16" mean mixed precision, as in Lightning. fp16 autocast does not exist on CPU
    (-> bf16-mixed); GPUs without bf16 (before Ampere) get 16-mixed instead of bf16.
    """
    if precision not in _PRECISION_FLAGS:
        raise ParameterError(
            f"precision {precision!r} is not one of {', '.join(PRECISION_CHOICES)}"
        )
    flag = _PRECISION_FLAGS[precision]
    if accelerator == "cpu" and flag == "16-mixed":
        return "bf16-mixed", (
            f"precision {precision} (fp16 autocast) is not available on CPU; using bf16-mixed"
        )
    if accelerator == "cuda" and flag == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        return "16-mixed", (
            f"precision {precision}: this GPU has no bfloat16 support; using 16-mixed"
        )
    return flag, None


def resolve_accelerator(accelerator: str = "auto") -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; `cpu`/`cuda` are checked."""
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise ParameterError("accelerator cuda: no CUDA device is visible; use --accelerator cpu")
    if accelerator not in ("cpu", "cuda"):
        raise ParameterError(f"accelerator {accelerator!r} is not one of auto, cpu, cuda")
    return accelerator


def clamp_num_workers(num_workers: int) -> tuple[int, str | None]:
    """Data-loader workers, at most the physical CPU cores this process may use (the count the
    model stage sizes its thread pool by), with a note if clamped."""
    if num_workers < 0:
        raise ParameterError(f"num_workers must be >= 0; got {num_workers}")
    cores = physical_cores()
    if num_workers > cores:
        return cores, f"num_workers {num_workers} > {cores} CPU cores; using {cores}"
    return num_workers, None


def parse_devices(devices: str | int) -> str | int | list[int]:
    """CLI `--devices`: "auto", a count ("2") or a list of device indices ("0,1")."""
    text = str(devices).strip()
    if text == "auto":
        return "auto"
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        count = int(text)
    except ValueError:
        raise ParameterError(
            f"devices {devices!r}: use auto, a count such as 2, or indices such as 0,1"
        ) from None
    if count < 0 and count != -1:
        raise ParameterError(f"devices must be auto, -1 (all), or >= 1; got {devices!r}")
    return count
