"""Benchmark tar shards (asr shard / data.train_shards): write and read throughput in utterances per second.

    python tools/bench/shard_bench.py --corpus ../shared/corpora/fsdd [--limit N] [--max-mb 8] [--workdir /tmp/sb]

Rows: writing the shards; reading them back (tar parsing only); reading + decoding + log-mel features in
this process (what one DataLoader worker does); the same through a DataLoader with 1 and 2 workers
(ShardStream, whole batches); and, for comparison, the manifest path's feature extraction from the files.
Appends a table to tools/bench/results/shards.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shutil
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from asr.audio import audio_info
from asr.data.corpora.fsdd import DIGIT_WORDS
from asr.data.dataset import extract_features
from asr.data.manifest import Utterance
from asr.data.shards import iter_shard, read_index, write_shards
from asr.data.stream import ShardStream, StreamSettings, examples
from asr.features import FeatureConfig
from asr.text import NormalizerConfig, TextNormalizer
from asr.units import TokenizerConfig, build_tokenizer

RESULTS = Path(__file__).resolve().parent / "results" / "shards.md"


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="../shared/corpora/fsdd")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--max-mb", type=float, default=8.0)
    ap.add_argument("--workdir", default="/tmp/shard_bench")
    args = ap.parse_args()
    torch.set_num_threads(1)
    wavs = sorted((Path(args.corpus) / "recordings").glob("*.wav"))
    if args.limit:
        wavs = wavs[: args.limit]
    utts = [Utterance(w.stem, str(w), audio_info(w, verify=False)[2], DIGIT_WORDS[int(w.stem[0])]) for w in wavs]
    seconds = sum(u.duration for u in utts)
    out = Path(args.workdir)
    shutil.rmtree(out, ignore_errors=True)
    rows = []

    def timed(name, fn, count):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        rows.append((name, count, dt, count / dt))
        print(f"{name}: {count} in {dt:.2f}s = {count / dt:.0f}/s", flush=True)

    index = {}
    timed("write shards", lambda: index.update(write_shards(utts, out, int(args.max_mb * (1 << 20)))), len(utts))
    _, urls = read_index(out)
    timed("read shards (tar only)", lambda: sum(1 for u in urls for _ in iter_shard(u)), len(utts))
    normalizer = TextNormalizer(NormalizerConfig())
    tokenizer = build_tokenizer(TokenizerConfig(), [normalizer(u.text) for u in utts])
    settings = StreamSettings(FeatureConfig(sample_rate=8000, n_mels=80), normalizer, tokenizer, 4, 60.0,
                              shuffle_buffer=500)
    timed("read + decode + log-mel, 1 process",
          lambda: sum(1 for _ in examples((s for u in urls for s in iter_shard(u)), settings)), len(utts))
    for workers in (1, 2):
        # Whole batches of 60 s; the planned batch count covers about one pass.
        stream = ShardStream(urls, settings, batches_per_epoch=int(seconds / 60 * 0.9))
        count = []
        loader = DataLoader(stream, batch_size=None, num_workers=workers, worker_init_fn=_one_thread)
        timed(f"ShardStream batches, {workers} DataLoader worker(s)",
              lambda loader=loader, count=count: count.extend(len(b.ids) for b in loader), len(utts))
        rows[-1] = (rows[-1][0], sum(count), rows[-1][2], sum(count) / rows[-1][2])
    timed("manifest path: extract_features from the files", lambda: extract_features(utts, settings.feature_config),
          len(utts))

    size = sum(s["bytes"] for s in index["shards"]) / (1 << 20)
    lines = [
        f"\n## {datetime.date.today()}: {len(utts)} FSDD utterances ({seconds / 60:.1f} min of 8 kHz WAV), "
        f"{len(index['shards'])} shards of <= {args.max_mb:g} MiB ({size:.1f} MiB)\n",
        f"Command: `python tools/bench/shard_bench.py {' '.join(sys.argv[1:])}`; {platform.machine()} "
        f"{platform.processor() or ''}, torch {torch.__version__}, 1 torch thread per process; the machine's 2 cores "
        "were shared with other training runs, so the rates are lower bounds. Shards on the local disk "
        "(page cache warm after writing).\n",
        "| step | utterances | seconds | utterances/s |",
        "|---|---|---|---|",
        *[f"| {name} | {count} | {dt:.2f} | {rate:.0f} |" for name, count, dt, rate in rows],
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            handle.write("# Tar shard throughput (tools/bench/shard_bench.py)\n")
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
