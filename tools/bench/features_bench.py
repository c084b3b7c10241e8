"""Log-mel features: our extraction (asr.features.LogMel, torchaudio) against librosa, and threaded extraction.

    python tools/bench/features_bench.py [--manifest M.jsonl] [--limit 200] [--repeats 3]

1. Compute only, waveforms in memory, one thread: LogMel against librosa's melspectrogram with the same
   settings (FFT, window, hop, reflect padding, Slaney mel scale and norm, the same log floor), CPU seconds
   and wall seconds, best of --repeats (the two alternate, so both see the same load). The outputs are
   compared: librosa's own mel filterbank, and its STFT with our filterbank (the computation alone).
2. Files to features (read, resample, log-mel), as training and `asr test` extract them: one utterance at a time
   on one thread and on all threads (the ways before), `extract_features` (a thread per usable core, one
   utterance each), and a pool of one forked process per usable core. Compressed audio (Opus, as speechocean762
   ships) is where the decoding, and so the parallel extraction, counts: give that corpus's --manifest.

Without --manifest a synthetic corpus of noise is written to a temporary folder. Writes results/features.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from asr.audio import load_audio
from asr.data.dataset import extract_features, utterance_features
from asr.data.manifest import read_manifest
from asr.features import FeatureConfig, LogMel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, finish, header, machine, synthetic_corpus  # noqa: E402

TOLERANCE = 1e-4


def librosa_logmel(wave: np.ndarray, config: FeatureConfig, fbank: np.ndarray | None = None) -> np.ndarray:
    import librosa

    common = dict(n_fft=config.fft_size, hop_length=config.hop_length, win_length=config.win_length, window="hann",
                  center=True, pad_mode="reflect")
    if fbank is None:
        mel = librosa.feature.melspectrogram(y=wave, sr=config.sample_rate, power=2.0, n_mels=config.n_mels,
                                             fmin=config.f_min, fmax=config.f_max or config.sample_rate / 2,
                                             htk=False, norm="slaney", **common)
    else:
        mel = fbank @ (np.abs(librosa.stft(wave, **common)) ** 2)
    return np.log(mel + 1e-6).T


def _chunk(args):
    utts, config = args
    torch.set_num_threads(1)
    logmel = LogMel(config).eval()
    feats = [utterance_features(u, logmel) for u in utts]
    return torch.cat(feats), [f.shape[0] for f in feats]


def pool_features(utts, config: FeatureConfig, workers: int) -> list[torch.Tensor]:
    size = max(1, -(-len(utts) // (4 * workers)))
    chunks = [(utts[i : i + size], config) for i in range(0, len(utts), size)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_chunk, chunks, chunksize=1)
    return [f for joined, frames in parts for f in joined.split(frames)]


def timed(fn) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "features.md"))
    args = parser.parse_args(argv)
    info = machine(threads=1)
    config = FeatureConfig()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = args.manifest or synthetic_corpus(Path(tmp) / "corpus", args.limit)
        utts = read_manifest(manifest)[: args.limit]
        waves = [load_audio(u.audio, config.sample_rate) for u in utts]
        audio_s = sum(w.shape[0] for w in waves) / config.sample_rate
        logmel = LogMel(config).eval()
        fbank = logmel.fb.numpy().T.astype(np.float64)

        torch.set_num_threads(1)
        ours_t, theirs_t = [], []
        for _ in range(args.repeats):
            with torch.no_grad():
                ours, wall, cpu = timed(lambda: [logmel(w).numpy() for w in waves])
            ours_t.append((wall, cpu))
            theirs, wall, cpu = timed(lambda: [librosa_logmel(w.numpy(), config) for w in waves])
            theirs_t.append((wall, cpu))
        diff_lib = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs))
        diff_fb = max(float(np.abs(a - librosa_logmel(w.numpy().astype(np.float64), config, fbank)).max())
                      for a, w in zip(ours, waves))
        fb_librosa = __import__("librosa").filters.mel(sr=config.sample_rate, n_fft=config.fft_size,
                                                       n_mels=config.n_mels, fmin=config.f_min,
                                                       fmax=config.f_max or config.sample_rate / 2, norm="slaney")
        big = fb_librosa > 1e-3 * fb_librosa.max()
        fb_rel = float((np.abs(fbank - fb_librosa) / np.where(big, fb_librosa, 1))[big].max())

        extraction = []
        for _ in range(max(1, args.repeats - 1)):
            rows = {}
            cores = len(os.sched_getaffinity(0))
            for name, threads, how in (("one thread, one utterance at a time (extract_features before)", 1, "loop"),
                                       (f"one utterance at a time on {cores} torch threads (before that)", cores,
                                        "loop"),
                                       (f"extract_features now: {cores} threads, one utterance each", cores,
                                        "extract"),
                                       (f"pool of {cores} processes, 1 thread each", 1, "pool")):
                torch.set_num_threads(threads)
                if how == "pool":
                    feats, wall, cpu = timed(lambda n=cores: pool_features(utts, config, n))
                elif how == "extract":
                    feats, wall, cpu = timed(lambda: extract_features(utts, config))
                else:
                    feats, wall, cpu = timed(lambda: [utterance_features(u, logmel) for u in utts])
                rows[name] = (wall, cpu, feats)
            extraction.append(rows)
    reference = next(iter(extraction[0].values()))[2]
    identical = all(all(torch.equal(a, b) for a, b in zip(reference, r[2])) for rows in extraction
                    for r in rows.values())

    best = lambda times, i: min(t[i] for t in times)  # noqa: E731
    ours_wall, ours_cpu, lib_wall, lib_cpu = best(ours_t, 0), best(ours_t, 1), best(theirs_t, 0), best(theirs_t, 1)
    info.update({"audio_s": audio_s, "utterances": len(utts), "manifest": args.manifest, "ours": ours_t,
                 "librosa": theirs_t,
                 "max_abs_diff_librosa": diff_lib, "max_abs_diff_same_filterbank": diff_fb,
                 "filterbank_max_relative_diff": fb_rel,
                 "extraction": [{k: v[:2] for k, v in rows.items()} for rows in extraction],
                 "extraction_identical": identical, "ratio_cpu": lib_cpu / ours_cpu,
                 "ratio_wall": lib_wall / ours_wall})
    lines = header("Log-mel features: ours against librosa; threaded extraction", info,
                   f"{len(utts)} utterances, {audio_s:.0f} s of audio "
                   f"({'`' + str(args.manifest) + '`' if args.manifest else 'synthetic noise'}), 80 mel bins, "
                   "25 ms windows, 10 ms hop, FFT 512. Best of "
                   f"{args.repeats} alternating repeats.")
    lines += [
        "## Compute only (waveforms in memory, one thread)", "",
        "| extractor | wall s | CPU s | x real time (CPU) | speed vs librosa (CPU) | speed vs librosa (wall) |",
        "|---|---|---|---|---|---|",
        f"| asr.features.LogMel (torchaudio) | {ours_wall:.3f} | {ours_cpu:.3f} | {audio_s / ours_cpu:.0f} | "
        f"**{lib_cpu / ours_cpu:.1f}x** | {lib_wall / ours_wall:.1f}x |",
        f"| librosa.feature.melspectrogram + log | {lib_wall:.3f} | {lib_cpu:.3f} | {audio_s / lib_cpu:.0f} | 1 | 1 |",
        "",
        "| match (max absolute difference of log-mel values, ours against) | value | within 1e-4 |", "|---|---|---|",
        f"| librosa, its own mel filterbank | {diff_lib:.2e} | {'yes' if diff_lib <= TOLERANCE else 'no'} |",
        f"| librosa's STFT (float64) with our filterbank: the computation alone | {diff_fb:.2e} | "
        f"{'yes' if diff_fb <= TOLERANCE else 'no'} |",
        "",
        f"The filterbanks themselves differ by up to {fb_rel:.1e} relative (weights above 0.1% of the largest): "
        "LogMel builds its mel filters in float64 as librosa does (torchaudio's own, built in float32, differed by "
        "up to 1.1e-3 and moved log-mel values by up to 2.4e-4). A log-mel value is a log of a sum of "
        "filter-weighted powers, so a relative filter difference d moves it by up to d.", "",
        "## Files to features (read, resample, log-mel), as training and `asr test` extract them", "",
        "| how | " + " | ".join(f"repeat {i + 1} wall s (CPU s of this process)" for i in range(len(extraction)))
        + " | speed vs one thread (best wall) |", "|---" * (len(extraction) + 2) + "|",
    ]
    base = min(next(iter(rows.values()))[0] for rows in extraction)
    for name in extraction[0]:
        walls = [rows[name][0] for rows in extraction]
        lines.append(f"| {name} | " + " | ".join(f"{rows[name][0]:.2f} ({rows[name][1]:.2f})" for rows in extraction)
                     + f" | {base / min(walls):.2f}x |")
    lines += ["", f"Features identical in every way of computing them: {'yes' if identical else 'NO'}. The pool's "
              "CPU seconds are the parent's only (its workers' time is not counted)."]
    lines += ["", "Extraction now runs in `extract_features`' threads: libsndfile (decoding) and torch (log-mel) "
              "both run without Python's lock, so threads parallelise without the pool's process start and copies."]
    finish(Path(args.out), info, lines)


if __name__ == "__main__":
    main()
