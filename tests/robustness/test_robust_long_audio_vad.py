"""A long recording segmented by Silero VAD: only the speech regions are decoded, in flat memory."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("silero_vad")

_TRANSCRIBE = textwrap.dedent("""
    import json, resource, sys
    import torch
    torch.set_num_threads(1)
    import asr.transcribe
    from asr.transcribe import Transcriber
    from asr.vad import speech_segments

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    found = {}
    def recording(path, seconds, config):
        found[str(path)] = speech_segments(path, seconds, config)
        return found[str(path)]
    asr.transcribe.speech_segments = recording
    transcriber = Transcriber(sys.argv[1])  # segmenter="vad" by default
    decoded = []
    inner = asr.transcribe.region_segments
    def counting(blocks, rate, regions):  # the segments the model is given, and where they start
        for samples, start in inner(blocks, rate, regions):
            decoded.append((start, samples.numel()))
            yield samples, start
    asr.transcribe.region_segments = counting
    transcriber.transcribe([sys.argv[3]])  # warm-up: loading the VAD model is not the file's cost
    decoded.clear()
    before = peak()
    (hyp,) = transcriber.transcribe([sys.argv[2]])
    print(json.dumps({"regions": found[sys.argv[2]], "decoded": decoded, "growth": peak() - before}))
""")


def test_vad_decodes_only_speech_regions_in_flat_memory(tmp_path: Path, tiny_model: Path, corpora_dir: Path) -> None:
    """Ten minutes: a spoken digit every 20 s between stretches of noise; memory must not follow the length."""
    rate = 8000
    digit, digit_rate = sf.read(corpora_dir / "fsdd" / "recordings" / "4_jackson_2.wav", dtype="float32")
    assert digit_rate == rate
    rng = np.random.default_rng(0)
    minute = (0.003 * rng.standard_normal(60 * rate)).astype(np.float32)
    starts = [5.0, 25.0, 45.0]
    for s in starts:
        minute[int(s * rate) : int(s * rate) + len(digit)] += digit
    long_file, warm = tmp_path / "ten_minutes.wav", tmp_path / "warm.wav"
    with sf.SoundFile(long_file, "w", rate, 1, "PCM_16") as out:
        for _ in range(10):
            out.write(minute)
    sf.write(warm, np.concatenate([minute, minute[:rate]]), rate, subtype="PCM_16")  # 61 s: the long path
    result = subprocess.run([sys.executable, "-c", _TRANSCRIBE, str(tiny_model), str(long_file), str(warm)],
                            capture_output=True, text=True, timeout=600, check=True)
    out = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    truth = [m * 60 + s for m in range(10) for s in starts]
    regions = out["regions"]
    assert len(regions) == len(truth)  # one region per digit, none in the noise
    for (start, end), t in zip(regions, truth):
        assert t - 0.1 <= start <= t + 0.2 and t + len(digit) / rate - 0.2 <= end <= t + len(digit) / rate + 0.3
    # each region decoded once, at its place in the file; nothing else
    assert [(round(s, 3), n) for s, n in out["decoded"]] == [
        (round(round(a * rate) / rate, 3), round(b * rate) - round(a * rate)) for a, b in regions]
    whole_signal = 600 * 16000 * 4  # the file as float32 at the VAD's 16 kHz
    assert out["growth"] < whole_signal / 4, f"peak memory grew by {out['growth'] / 1e6:.0f} MB"
