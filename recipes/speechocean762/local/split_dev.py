"""Split dev by speaker into a tuning half and a scoring half (every other speaker), so LM weights are
never chosen on the speakers they are scored on."""

import argparse

from asr.data.manifest import read_manifest, write_manifest

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("dev", help="dev manifest")
parser.add_argument("tune", help="manifest to write: the tuning half")
parser.add_argument("eval", help="manifest to write: the scoring half")
args = parser.parse_args()
dev = read_manifest(args.dev)
speakers = sorted({u.speaker for u in dev})
tune = set(speakers[::2])
write_manifest(args.tune, [u for u in dev if u.speaker in tune])
write_manifest(args.eval, [u for u in dev if u.speaker not in tune])
print(f"{args.tune}: {len(tune)} speakers; {args.eval}: {len(speakers) - len(tune)} speakers")
