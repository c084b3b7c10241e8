"""Transcription speed: files per second and real-time factor of ``Transcriber`` (what ``asr transcribe`` runs),
greedy and beam + word LM, short files one per call against files gathered into model batches, and one long
recording (segments batched). Everything a run measures is the whole path from audio file to hypothesis:
reading, resampling, features, model, decoding. Writes results/transcribe.md (and .json).

    .venv/bin/python tools/bench/transcribe_bench.py --model recipes/demo/exp/demo/model_best.pt \
        --manifest recipes/demo/data/test.jsonl --lm exp/lm.arpa --lm-weight 0.5 [--threads 1] [--limit N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr.audio import load_audio
from asr.data.manifest import read_manifest
from asr.metrics import error_report
from asr.transcribe import Transcriber

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from decode_bench import machine_info  # noqa: E402


def timed(transcriber: Transcriber, paths: list, one_by_one: bool) -> tuple[list, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    if one_by_one:
        hyps = [transcriber.transcribe([p])[0] for p in paths]
    else:
        hyps = transcriber.transcribe(paths)
    return hyps, time.perf_counter() - wall, time.process_time() - cpu


def long_recording(utts, rate: int, folder: Path, gap: float = 0.6) -> tuple[Path, str, float]:
    """The utterances joined with ``gap`` seconds of quiet noise between them: one recording over a minute."""
    rng = np.random.default_rng(0)
    parts, words = [], []
    for utt in utts:
        parts.append(load_audio(utt.audio, rate).numpy())
        parts.append((0.002 * rng.standard_normal(int(gap * rate))).astype(np.float32))
        words.append(utt.text)
    path = folder / "long.wav"
    samples = np.concatenate(parts)
    sf.write(path, samples, rate, subtype="FLOAT")
    return path, " ".join(words), len(samples) / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--manifest", required=True, help="short files with references (WER shows batching "
                        "changes nothing)")
    parser.add_argument("--lm", help="ARPA LM for the beam rows")
    parser.add_argument("--lm-weight", type=float, default=0.5)
    parser.add_argument("--word-score", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="first N utterances only")
    parser.add_argument("--long-files", type=int, default=40, help="utterances joined into the long recording")
    parser.add_argument("--out", default=str(HERE / "results" / "transcribe.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    utts = read_manifest(args.manifest)
    utts = utts[: args.limit] if args.limit else utts
    paths = [u.audio for u in utts]
    audio_s = sum(u.duration for u in utts)
    decoders = [("greedy", {"kind": "greedy"})]
    if args.lm:
        decoders.append((f"beam 50 + {Path(args.lm).name} (lexicon-free, weight {args.lm_weight})",
                         {"kind": "beam", "beam_size": 50, "lm": str(Path(args.lm).absolute()),
                          "lm_weight": args.lm_weight, "word_score": args.word_score}))
    info = {"machine": machine_info(args.threads), "command": " ".join(shlex.quote(a) for a in sys.argv),
            "date": datetime.date.today().isoformat(), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in decoders:
            transcriber = Transcriber(args.model, decoder_overrides=overrides)
            transcriber.transcribe([paths[0]])  # warm-up: first-call costs (LM loading is in the constructor)
            reference = None
            for mode, one_by_one in (("one file per call", True), ("batched (120 s of audio per batch)", False)):
                hyps, wall, cpu = timed(transcriber, paths, one_by_one)
                texts = [h.text for h in hyps]
                assert reference is None or texts == reference, "batching changed a transcript"
                reference = texts
                wer = error_report([u.id for u in utts], [u.text for u in utts], texts).wer
                info["rows"].append({"decoder": name, "input": f"{len(utts)} short files", "mode": mode,
                                     "audio_s": audio_s, "wall_s": wall, "cpu_s": cpu, "files": len(utts),
                                     "wer": wer})
                print(info["rows"][-1], flush=True)
            long_path, long_ref, long_s = long_recording(utts[: args.long_files], transcriber.sample_rate, Path(tmp))
            for segmenter in ("vad", "quiet"):
                transcriber.segmenter = segmenter
                hyps, wall, cpu = timed(transcriber, [long_path], False)
                wer = error_report(["long"], [long_ref], [hyps[0].text]).wer
                info["rows"].append({"decoder": name, "input": f"1 recording of {long_s:.0f} s ({segmenter} segments)",
                                     "mode": "segments batched", "audio_s": long_s, "wall_s": wall, "cpu_s": cpu,
                                     "files": 1, "wer": wer})
                print(info["rows"][-1], flush=True)
            transcriber.segmenter = "vad"
    info["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write(Path(args.out), info, args)


def write(out: Path, info: dict, args) -> None:
    m = info["machine"]
    lines = [
        "# Transcription speed", "",
        f"{info['date']}: `{info['command']}`", "",
        f"Model `{args.model}`; files from `{args.manifest}`. Times cover the whole path from audio file to "
        "hypothesis (read, resample, log-mel, model, decode); the LM is loaded before timing. Real-time factor "
        "(RTF) = wall time / audio time; CPU RTF = this process's CPU time / audio time, the figure to trust "
        "when other work shares the cores (then wall time is several times the CPU time).", "",
        "| decoder | input | mode | audio | wall | files/s | RTF | CPU s | CPU RTF | WER |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in info["rows"]:
        lines.append(f"| {r['decoder']} | {r['input']} | {r['mode']} | {r['audio_s']:.0f} s | {r['wall_s']:.1f} s | "
                     f"{r['files'] / r['wall_s']:.1f} | {r['wall_s'] / r['audio_s']:.4f} | {r['cpu_s']:.1f} | "
                     f"{r['cpu_s'] / r['audio_s']:.4f} | {100 * r['wer']:.2f}% |")
    lines += ["", "## Machine", "",
              f"- CPU: {m['cpu']}; {m['cores']} cores ({m['usable_cores']} usable); torch threads "
              f"{m['torch_threads']}; niceness {m['niceness']}",
              f"- load average at start {m['load_average_at_start']}, at end {m['load_average_at_end']}: other "
              "trainings shared the two cores during the run",
              f"- versions: {m['versions']}", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
