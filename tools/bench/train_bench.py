"""The training pipeline (`asr train`: Lightning, sampler, collate, SpecAugment, CTC, AdamW) against the bare step.

    python tools/bench/train_bench.py [--cells lstm,gru,rnn] [--directions bi,uni] [--hidden 256] [--layers 3]

For each model: one epoch of ``asr.train.train`` on a synthetic corpus (noise, random word transcripts; speed
does not depend on what is learnt) records every training batch's shape and the wall time from the end of
the second batch to the end of the last (data loading, Lightning's loop and logging included; warm-up and
validation excluded). The bare step then replays the same batch shapes through the same model with no
Lightning and no data pipeline: random features, CMVN -> convolutions -> recurrent stack -> head -> CTC ->
backward -> AdamW, the issue's reference. Both run in this process on the same threads, one after the
other. Writes results/training.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from asr.config import load_config
from asr.model import CtcModel
from asr.train import set_threads, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, finish, header, machine, synthetic_corpus  # noqa: E402

SKIP = 2  # warm-up batches left out of both timings


class BatchRecorder(Callback):
    def __init__(self) -> None:
        self.shapes: list[tuple[list[int], list[int]]] = []
        self.ends: list[float] = []
        self.threads = 0

    def on_train_batch_end(self, trainer, task, outputs, batch, batch_idx: int) -> None:
        # Read at the batches, not at the epoch's start: our LoadAwareThreads may change the count there after
        # this callback ran (the bare step then ran on 1 thread against the pipeline's 2).
        self.threads = torch.get_num_threads()
        self.ends.append(time.perf_counter())
        self.shapes.append((batch.feat_lengths.tolist(), batch.target_lengths.tolist()))


def audio_seconds(shapes, hop: float) -> float:
    return sum(sum(frames) for frames, _ in shapes) * hop


def pipeline(overrides: list[str]) -> tuple[float, list, object]:
    config = load_config(None, overrides)
    recorder = BatchRecorder()
    train(config, callbacks=[recorder])
    hop = config.features.hop_length / config.features.sample_rate
    timed = recorder.shapes[SKIP:]
    speed = audio_seconds(timed, hop) / (recorder.ends[-1] - recorder.ends[SKIP - 1])
    return speed, recorder.shapes, config, recorder.threads


def bare(config, shapes, vocab: int, threads: int) -> float:
    """Audio seconds per second of the bare step on the same batch shapes and threads."""
    set_threads(threads, config.trainer.flush_denormal)
    torch.manual_seed(0)
    model = CtcModel(config.model, config.features.n_mels, vocab).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)  # the pipeline's optimiser (asr/train.py)
    ctc = torch.nn.CTCLoss(zero_infinity=True, reduction="sum")
    elapsed, audio = 0.0, 0.0
    hop = config.features.hop_length / config.features.sample_rate
    for i, (frames, labels) in enumerate(shapes):
        lengths, target_lengths = torch.tensor(frames), torch.tensor(labels)
        feats = torch.randn(len(frames), max(frames), config.features.n_mels)
        targets = torch.randint(1, vocab, (len(frames), max(labels)))
        start = time.perf_counter()
        log_probs, out_lengths = model(feats, lengths)
        loss = ctc(log_probs.transpose(0, 1), targets, out_lengths, target_lengths) / len(frames)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if i >= SKIP:
            elapsed += time.perf_counter() - start
            audio += sum(frames) * hop
    return audio / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru,rnn")
    parser.add_argument("--directions", default="bi,uni")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--utterances", type=int, default=200,
                        help="synthetic training utterances (2-6 s); 48 timed only 10 batches, too few to be steady")
    parser.add_argument("--batch-seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: the usable cores")
    parser.add_argument("--out", default=str(RESULTS / "training.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    info = machine(threads=args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        train_manifest = synthetic_corpus(Path(tmp) / "train", args.utterances, seed=1)
        dev_manifest = synthetic_corpus(Path(tmp) / "dev", 2, seed=2)
        for cell in args.cells.split(","):
            for direction in args.directions.split(","):
                overrides = [f"data.train={train_manifest}", f"data.dev={dev_manifest}",
                             f"data.max_batch_seconds={args.batch_seconds}", "data.num_buckets=4",
                             f"trainer.exp_dir={tmp}/exp_{cell}_{direction}", "trainer.max_epochs=1",
                             f"trainer.threads={args.threads}", "trainer.progress_bar=false",
                             f"model.cell={cell}", f"model.bidirectional={direction == 'bi'}",
                             f"model.hidden_size={args.hidden}", f"model.num_layers={args.layers}",
                             "model.dropout=0.2", "model.subsampling=4"]
                speed, shapes, config, threads = pipeline(overrides)
                reference = bare(config, shapes, 30, threads)
                hop = config.features.hop_length / config.features.sample_rate
                row = {"cell": cell, "direction": direction, "batches": len(shapes) - SKIP, "threads": threads,
                       "audio_s": audio_seconds(shapes[SKIP:], hop),
                       "pipeline": speed, "bare": reference, "ratio": speed / reference}
                print(row, flush=True)
                rows.append(row)
    info["rows"] = rows
    lines = header("Training: `asr train` against the bare training step", info,
                   f"Models: {args.layers}x{args.hidden}, 80 mel, subsampling 4, dropout 0.2; a synthetic corpus of "
                   f"{args.utterances} utterances of 2-6 s, batches of at most {args.batch_seconds:g} s "
                   f"(4 length buckets); torch threads {args.threads or 'all usable cores'}. Speeds in audio "
                   "seconds per second; the first two batches of each are left out. Target (issue 15): pipeline "
                   "at least 90% of the bare step.")
    lines += ["| cell | directions | threads | batches timed | audio timed | bare step | asr train | "
              "asr train / bare |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['cell']} | {r['direction']} | {r['threads']} | {r['batches']} | {r['audio_s']:.0f} s | "
              f"{r['bare']:.1f} | {r['pipeline']:.1f} | **{100 * r['ratio']:.0f}%** |" for r in rows]
    finish(Path(args.out), info, lines)


if __name__ == "__main__":
    main()
