"""Training speed on CPU: optimiser steps/s of a small ViT-GRU config, beside this machine's
float32 matmul throughput measured in the same run.

The step is what `liveify train` does per batch (forward, L1 + spectral-convergence loss,
backward, gradient clipping, AdamW) without Lightning's bookkeeping. The model's achieved GFLOP/s
counts 3x the analytic forward FLOPs per sample (backward ~ 2x forward), so its fraction of the
numpy matmul figure shows how much of the machine the training step uses. No target on CPU
(training is meant for CUDA); DESIGN.md asks for samples/s and FLOP utilisation.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import print_rows, row

SMALL_CONFIG = dict(
    embed_dim=128, num_heads=4, num_transformer_layers=4, n_mels=128, context_frames=352
)
#: The original specification's model and its memory tip (`--embed_dim 384
#: --num_transformer_layers 6`: 3 + 3 layers), sized on the meta device, never trained here.
SPEC_CONFIGS = {
    "spec default": {},
    "spec memory tip": dict(embed_dim=384, num_transformer_layers=6),
}
BATCH_SIZE = 4


def numpy_matmul_gflops(size: int = 1024, min_seconds: float = 1.0) -> float:
    """Best float32 GFLOP/s of `size` x `size` matrix products (2 n^3 FLOPs each) via numpy."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # thread pool start-up
    best, spent = 0.0, 0.0
    while spent < min_seconds:
        start = time.perf_counter()
        a @ b
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = max(best, 2.0 * size**3 / elapsed / 1e9)
    return best


def run(quick: bool = False) -> list[dict]:
    import torch

    from liveify.model import LiveifyModel, ModelConfig, count_parameters, flops_per_window
    from liveify.train.losses import live_mel_loss

    torch.manual_seed(0)
    config = ModelConfig(**SMALL_CONFIG)
    model = LiveifyModel(config).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    studio = torch.rand(BATCH_SIZE, 1, config.n_mels, config.context_frames) * 2 - 1
    live = torch.tanh(studio + 0.1 * torch.randn_like(studio))

    def step():
        optimiser.zero_grad(set_to_none=True)
        loss = live_mel_loss(model(studio), live)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()

    for _ in range(2):
        step()  # allocator and autograd warm-up
    steps = 5 if quick else 20
    start = time.perf_counter()
    for _ in range(steps):
        step()
    steps_per_s = steps / (time.perf_counter() - start)

    machine_gflops = numpy_matmul_gflops(min_seconds=0.5 if quick else 2.0)
    model_gflops = 3 * flops_per_window(config) * BATCH_SIZE * steps_per_s / 1e9
    threads = torch.get_num_threads()
    small = (
        f"embed {config.embed_dim}, {config.layers_before_gru}+GRU+"
        f"{config.layers_after_gru} layers, {config.n_mels}x{config.context_frames} mel"
    )
    sizes = []
    for name, changes in SPEC_CONFIGS.items():
        spec = ModelConfig(**changes)
        with torch.device("meta"):
            parameters = count_parameters(LiveifyModel(spec))
        sizes.append(
            row(
                f"{name}: parameters",
                parameters / 1e6,
                "M",
                None,
                note=f"embed {spec.embed_dim}, {spec.layers_before_gru}+GRU+"
                f"{spec.layers_after_gru} layers; {flops_per_window(spec) / 1e9:.1f} GFLOP per "
                f"{spec.context_frames}-frame window",
            )
        )
    return [
        *sizes,
        row(
            "training steps/s, small config, CPU fp32",
            steps_per_s,
            "steps/s",
            None,
            note=f"batch {BATCH_SIZE} ({BATCH_SIZE * steps_per_s:.1f} samples/s); {small}; "
            f"{threads} torch threads",
        ),
        row(
            "  model throughput while training",
            model_gflops,
            "GFLOP/s",
            None,
            note=f"{100 * model_gflops / machine_gflops:.0f} % of the numpy matmul figure below "
            f"({3 * flops_per_window(config) / 1e9:.2f} GFLOP per sample, fwd + bwd)",
        ),
        row(
            "  numpy float32 matmul (same run)",
            machine_gflops,
            "GFLOP/s",
            None,
            note="1024x1024 @ 1024x1024, best of repeats: this machine's practical peak",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 timed steps instead of 20")
    print_rows(run(quick=parser.parse_args().quick))
