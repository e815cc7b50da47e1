"""The training objective and learning-rate schedule.

Loss: L1 on the normalised mel (`[-1, 1]`, i.e. linear in dB), plus 0.1 x spectral convergence
on mel amplitudes. L1 in the dB domain weighs every part of the 80 dB range alike (as hearing
does) and, unlike L2, is not dominated by frames the alignment got wrong; spectral convergence
(`||A - Â||_F / ||A||_F` per window, amplitudes from the dB values) puts weight back on the loud
bands that carry the music, which a dB-domain loss treats like the noise floor.

Schedule: the learning rate rises linearly over the first 5 % of optimiser steps (at most 1000),
then follows a cosine down to 10 % of the peak by the last step of `max_epochs`; warm-up keeps
Adam's early, noisy second-moment estimates from throwing the attention layers off, and the cosine
tail anneals without a hand-tuned step schedule. It is stepped per optimiser step, so gradient
accumulation is accounted for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def mel_amplitude(normalized: torch.Tensor, top_db: float) -> torch.Tensor:
    """Normalised mel in [-1, 1] -> amplitude relative to the reference (1 at 0 dB)."""
    level_db = (normalized.float() - 1.0) * (top_db / 2.0)
    return torch.pow(10.0, level_db / 20.0)


def spectral_convergence(
    predicted: torch.Tensor, target: torch.Tensor, *, top_db: float
) -> torch.Tensor:
    """Mean over the batch of `||A_target - A_pred||_F / ||A_target||_F` on mel amplitudes."""
    predicted_amp = mel_amplitude(predicted, top_db).flatten(1)
    target_amp = mel_amplitude(target, top_db).flatten(1)
    difference = torch.linalg.vector_norm(target_amp - predicted_amp, dim=1)
    reference = torch.linalg.vector_norm(target_amp, dim=1).clamp_min(1e-6)
    return (difference / reference).mean()


def live_mel_loss(
    predicted: torch.Tensor,
    target: torch.Tensor,
    *,
    top_db: float = 80.0,
    spectral_convergence_weight: float = 0.1,
) -> dict[str, torch.Tensor]:
    """Training loss: L1 on the normalised mel + weight x spectral convergence.

    Returns a dict with `loss` (what is optimised), `l1` and `spectral_convergence`, all computed
    in float32 whatever the autocast precision.
    """
    l1 = torch.nn.functional.l1_loss(predicted.float(), target.float())
    convergence = spectral_convergence(predicted, target, top_db=top_db)
    return {
        "loss": l1 + spectral_convergence_weight * convergence,
        "l1": l1,
        "spectral_convergence": convergence,
    }


@dataclass
class WarmupCosine:
    """Learning-rate factor per optimiser step: linear warm-up, then cosine to `final_ratio`.

    A callable object (not a lambda) so LambdaLR's state dict, and so the checkpoint, holds plain
    numbers and loads with `weights_only=True`.
    """

    warmup_steps: int
    total_steps: int
    final_ratio: float = 0.1

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.final_ratio + (1.0 - self.final_ratio) * cosine


def warmup_steps_for(
    total_steps: int, warmup_fraction: float = 0.05, max_warmup: int = 1000
) -> int:
    """Warm-up length: `warmup_fraction` of the run, at least 1 and at most `max_warmup` steps."""
    return max(1, min(max_warmup, round(warmup_fraction * total_steps)))
