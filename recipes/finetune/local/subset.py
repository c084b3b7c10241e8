"""Write a balanced subset of an FSDD manifest: the first K recordings of every (speaker, digit) pair.

FSDD ids are DIGIT_SPEAKER_INDEX; "first" is by index, so the subset is the same on every run.
Usage: python local/subset.py IN.jsonl K -o OUT.jsonl
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("k", type=int, help="recordings per (speaker, digit)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    src = Path(args.manifest).absolute()
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for line in src.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            groups[(entry.get("speaker", ""), entry["text"])].append(entry)
    out = Path(args.output).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    for key in sorted(groups):
        kept += sorted(groups[key], key=lambda e: int(e["id"].rsplit("_", 1)[1]))[: args.k]
    with open(out, "w", encoding="utf-8") as handle:
        for entry in kept:
            # Audio paths are relative to the manifest's folder: re-root them at the new one.
            entry["audio"] = str(Path((src.parent / entry["audio"]).resolve()))
            handle.write(json.dumps(entry) + "\n")
    print(f"wrote {out}: {len(kept)} utterances, {sum(e['duration'] for e in kept) / 60:.1f} min")


if __name__ == "__main__":
    main()
