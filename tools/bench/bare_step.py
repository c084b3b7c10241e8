"""The bare training step the benchmarks time: forward, CTC loss, backward and AdamW on random features."""

from __future__ import annotations

import time

import torch

from asr.model import CtcModel, ModelConfig


def bare_step_times(config: ModelConfig, batch: int, frames: int, steps: int) -> tuple[list[float], float]:
    """Seconds of each of ``steps`` training steps on a (batch, frames, 80) batch, and the audio it holds (s).

    Lengths fall from ``frames`` to 80% of it across the batch; one target per 12 frames (about a character
    per 120 ms). The caller drops its warm-up steps.
    """
    torch.manual_seed(0)
    model = CtcModel(config, n_mels=80, vocab_size=30).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)  # as asr/train.py
    ctc = torch.nn.CTCLoss(zero_infinity=True, reduction="sum")
    feats = torch.randn(batch, frames, 80)
    lengths = torch.linspace(frames, int(frames * 0.8), batch).long()
    targets = torch.randint(1, 30, (batch, frames // 12))
    target_lengths = torch.full((batch,), frames // 12)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        log_probs, out_lengths = model(feats, lengths)
        loss = ctc(log_probs.transpose(0, 1), targets, out_lengths, target_lengths) / batch
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return times, float(lengths.sum()) / 100
