"""``asr shard``: a prepared manifest written as tar shards for streaming training (asr/data/shards.py);
``asr synth``: a synthetic pretraining corpus spoken by eSpeak NG from a text file (asr/data/corpora/synthetic.py)."""

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


def cmd_synth(args: argparse.Namespace) -> None:
    from asr.data.corpora.synthetic import generate_synthetic_corpus
    from asr.data.manifest import read_manifest

    t0 = time.perf_counter()
    outputs = generate_synthetic_corpus(args.text, args.output, n_train=args.train, n_dev=args.dev,
                                        voices=args.voices, seed=args.seed, sample_rate=args.sample_rate,
                                        min_words=args.min_words, max_words=args.max_words, id_prefix=args.id_prefix,
                                        connected=args.connected)
    hours = sum(u.duration for u in read_manifest(outputs["train"])) / 3600
    print(f"wrote {args.train} train ({hours:.2f} h) and {args.dev} dev utterances to {args.output} in "
          f"{time.perf_counter() - t0:.0f}s: {outputs['train']}, {outputs['dev']}")


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

    p = sub.add_parser("synth", help="speak sentences from a text file with eSpeak NG: a synthetic pretraining corpus",
                       description="Sentences (3-12 words by default, no digits) drawn at random from TEXT (plain "
                       "or .gz, one per line; or a manifest .jsonl, whose transcripts are spoken), spoken by eSpeak NG "
                       "one word at a time (or, for a --connected share, as whole sentences) with random voice, rate, "
                       "pitch, pauses and noise; FLAC audio plus train.jsonl and dev.jsonl. Pretrain on it, then "
                       "fine-tune with asr train --init MODEL.")
    p.add_argument("text", help="text file, one sentence per line (.gz read as gzip), or a manifest "
                   "(.jsonl): its transcripts")
    p.add_argument("-o", "--output", required=True, help="folder to write audio/ and the manifests into")
    p.add_argument("--train", type=opt.integer(1, 10**7), default=2000, help="training utterances (default 2000)")
    p.add_argument("--dev", type=opt.integer(1, 10**6), default=100, help="dev utterances (default 100)")
    p.add_argument("--voices", choices=("english", "accented", "both"), default="both",
                   help="English voices, other languages' voices reading English (accented), or both (default)")
    p.add_argument("--seed", type=opt.integer(0, 2**32 - 1), default=0, help="generator seed (default 0)")
    p.add_argument("--min-words", type=opt.integer(1, 1000), default=3, help="shortest sentence kept (default 3)")
    p.add_argument("--max-words", type=opt.integer(1, 1000), default=12, help="longest sentence kept (default 12)")
    p.add_argument("--sample-rate", type=opt.integer(8000, 48000), default=16000,
                   help="audio sample rate in Hz (default 16000; 8000 for 8 kHz corpora such as FSDD)")
    p.add_argument("--connected", type=opt.number(0.0, 1.0), default=0.0,
                   help="share of sentences spoken in one piece, words running together as in read speech, instead "
                   "of word by word with pauses (0-1, default 0)")
    p.add_argument("--id-prefix", default="synth",
                   help="utterance ids are PREFIX-train-000000...: different prefixes let two corpora train together "
                   "(default synth)")
    p.set_defaults(func=cmd_synth)
