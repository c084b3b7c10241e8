"""Write one manifest holding the utterances of several (audio paths re-based to the new file's folder).

Manifest audio paths are relative to each manifest's own folder, so joining the files with ``cat`` would
point the second one's paths at the wrong folder.

    python ../combine_manifests.py data/select_train.jsonl data/synth_select/train.jsonl \
        -o data/select_train_synth.jsonl
"""

from __future__ import annotations

import argparse

from asr.data.manifest import read_manifest, write_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifests", nargs="+", help="manifests to join, in order")
    parser.add_argument("-o", "--output", required=True, help="manifest to write")
    args = parser.parse_args()
    utts = [utt for path in args.manifests for utt in read_manifest(path)]
    write_manifest(args.output, utts)
    print(f"wrote {args.output}: {len(utts)} utterances from {len(args.manifests)} manifests")


if __name__ == "__main__":
    main()
