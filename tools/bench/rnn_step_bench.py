"""Benchmark one training step of the acoustic model: our recurrent runner against packed sequences.

A step is CMVN -> conv subsampling -> 3 recurrent layers -> head -> CTC loss -> backward -> AdamW, on a
batch of random features shaped like a bucket of the speechocean762 recipe (80 mel bins, lengths within
20% of each other). "packed" swaps the recurrent stack for ``pack_padded_sequence`` + the module's own
forward, which is what the model used before asr.model.recurrent existed.

    python tools/bench/rnn_step_bench.py [--threads 2] [--steps 6] [--hidden 256] [--layers 3]

Run it on an otherwise idle machine: a second busy process slows recurrent layers several-fold.
Appends to tools/bench/results/rnn_step.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path

import torch

from asr.model import ModelConfig
from asr.model import encoder as encoder_module
from asr.model.recurrent import run_packed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_step import bare_step_times  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "rnn_step.md"
SHAPES = [(5, 400), (15, 400), (3, 1200)]  # (utterances, frames of 10 ms): 20 s, 60 s and 36 s batches


def step_seconds(cell: str, batch: int, frames: int, runner: str, steps: int, hidden: int, layers: int) -> float:
    config = ModelConfig(cell=cell, hidden_size=hidden, num_layers=layers, dropout=0.2, subsampling=4)
    original = encoder_module.run_recurrent
    if runner == "packed":
        encoder_module.run_recurrent = run_packed
    try:
        times, _ = bare_step_times(config, batch, frames, steps + 2)
    finally:
        encoder_module.run_recurrent = original
    return sorted(times[2:])[len(times[2:]) // 2]  # median after two warm-up steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for cell in ("lstm", "gru", "rnn"):
        for batch, frames in SHAPES:
            audio = float(torch.linspace(frames, int(frames * 0.8), batch).long().sum()) / 100  # seconds
            speeds = {}
            for runner in ("packed", "ours"):
                seconds = step_seconds(cell, batch, frames, runner, args.steps, args.hidden, args.layers)
                speeds[runner] = audio / seconds
            row = (f"| {cell} | {batch} x {frames / 100:.0f} s | {speeds['packed']:.0f} | {speeds['ours']:.0f} "
                   f"| {speeds['ours'] / speeds['packed']:.2f}x |")
            print(row, flush=True)
            rows.append(row)
    header = (
        f"\n## {datetime.datetime.now():%Y-%m-%d %H:%M} - {platform.processor() or platform.machine()}, "
        f"{args.threads} threads, torch {torch.__version__}, bidirectional {args.layers}x{args.hidden}, 80 mel, "
        f"subsampling 4\n`python tools/bench/rnn_step_bench.py --threads {args.threads}`; training-step "
        "speed in audio-seconds per second (median of "
        f"{args.steps} steps)\n\n| cell | batch | packed | ours | speed-up |\n|---|---|---|---|---|\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as handle:
        handle.write(header + "\n".join(rows) + "\n")
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
