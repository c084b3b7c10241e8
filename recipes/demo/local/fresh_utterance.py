"""Write a fresh demo utterance (a sentence and voice the training never saw) and say what it says."""

import argparse

from asr.data.corpora.demo import write_fresh_utterance

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("out_dir", help="folder for fresh.wav and fresh.txt")
parser.add_argument("--seed", type=int, default=7)
args = parser.parse_args()
path = write_fresh_utterance(args.out_dir, seed=args.seed)
print(f"fresh utterance {path} says: {(path.parent / 'fresh.txt').read_text().strip()!r}")
