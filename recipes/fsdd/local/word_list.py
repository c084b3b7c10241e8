"""Write the word list for lexicon-constrained decoding: every word of a manifest's transcripts, one per line.

With --transcripts it also writes the transcripts themselves, one line per utterance: the text eSpeak speaks
for the synthetic voices that run.sh --synth adds to the training set.

Give it the TRAINING manifest only: the decoder can then output nothing but words seen in training, and
no test transcript leaks into decoding.

    python local/word_list.py data/speaker_train.jsonl -o data/lang/speaker_words.txt
"""

from __future__ import annotations

import argparse
from pathlib import Path

from asr.data.manifest import read_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", help="training manifest (JSON lines with a 'text' field)")
    parser.add_argument("-o", "--output", required=True, help="word list to write, sorted, one word per line")
    parser.add_argument("--transcripts", help="also write every transcript, one per line, to this file")
    args = parser.parse_args()
    utts = read_manifest(args.manifest)
    words = sorted({word for utt in utts for word in utt.text.lower().split()})
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{word}\n" for word in words))
    print(f"wrote {out}: {len(words)} words from {args.manifest}")
    if args.transcripts:
        Path(args.transcripts).write_text("".join(f"{utt.text.lower()}\n" for utt in utts))
        print(f"wrote {args.transcripts}: {len(utts)} transcripts")


if __name__ == "__main__":
    main()
