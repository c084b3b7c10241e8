"""``asr shard``: a prepared manifest written as tar shards for streaming training (asr/data/shards.py)."""

from __future__ import annotations

import argparse
import time

from asr import options as opt


def cmd_shard(args: argparse.Namespace) -> None:
    from asr.data.manifest import read_manifest
    from asr.data.shards import write_shards

    utts = read_manifest(args.manifest)
    t0 = time.perf_counter()
    index = write_shards(utts, args.output, max_shard_bytes=int(args.max_mb * (1 << 20)))
    elapsed = time.perf_counter() - t0
    size = sum(s["bytes"] for s in index["shards"]) / (1 << 20)
    print(f"wrote {len(index['shards'])} shards ({size:.1f} MB, {index['utterances']} utterances, "
          f"{index['seconds'] / 3600:.2f} h) to {args.output} in {elapsed:.1f}s; "
          f"train with data.train_shards={args.output}")


def add_parser(sub) -> None:
    p = sub.add_parser("shard", help="write a manifest's audio and transcripts as tar shards for streaming",
                       description="WebDataset-style tar shards (audio bytes + JSON metadata) plus index.json and "
                       "utterances.jsonl; copy the folder anywhere fsspec reads (s3://, gs://, https://) and "
                       "train with data.train_shards=URL.")
    p.add_argument("manifest", help="JSON-lines manifest (asr prepare)")
    p.add_argument("-o", "--output", required=True, help="folder to write the shards into")
    p.add_argument("--max-mb", type=opt.number(0.001, 1e6), default=256.0,
                   help="largest shard size in MiB (default 256)")
    p.set_defaults(func=cmd_shard)
