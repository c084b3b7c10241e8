"""Row 14: a 2-hour recording through the Transcriber (what `asr transcribe` calls) in flat memory."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr.segments import quiet_cut

_TRANSCRIBE_2H = textwrap.dedent("""
    import resource, sys
    import torch
    torch.set_num_threads(1)
    from asr.transcribe import Transcriber

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    transcriber = Transcriber(sys.argv[1], segmenter="quiet")  # every sample decoded (vad: test_robust_long_audio_vad)
    decoded = []
    inner = transcriber.logmel
    def counting(samples):  # every segment's samples become features once
        decoded.append((0, samples.numel()))
        return inner(samples)
    transcriber.logmel = counting
    transcriber.transcribe([sys.argv[3]])  # a minute-long warm-up: one-time costs are not the file's
    decoded.clear()
    before = peak()
    (hyp,) = transcriber.transcribe([sys.argv[2]])
    ends = [w.end for w in hyp.words]
    print(sum(n for _, n in decoded), len(decoded), peak() - before, max(ends, default=0.0),
          int(ends == sorted(ends)))
""")


def test_two_hour_file_transcribes_in_flat_memory(tmp_path: Path, tiny_model: Path) -> None:
    rate = 8000  # the tiny model's rate, so the test spends its time on length, not resampling
    t = np.arange(60 * rate) / rate
    minute = (0.3 * np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 0.5 * t) > -0.9)).astype(np.float32)
    long_file, warm = tmp_path / "two_hours.wav", tmp_path / "minute.wav"
    with sf.SoundFile(long_file, "w", rate, 1, "PCM_16") as out:
        for _ in range(120):
            out.write(minute)
    sf.write(warm, np.concatenate([minute, minute[: rate]]), rate, subtype="PCM_16")  # 61 s: the long path
    try:
        result = subprocess.run([sys.executable, "-c", _TRANSCRIBE_2H, str(tiny_model), str(long_file), str(warm)],
                                capture_output=True, text=True, timeout=600, check=True)
    finally:
        long_file.unlink()
    samples, segments, growth, last_end, ordered = result.stdout.split()
    assert int(samples) == 2 * 3600 * rate  # every sample decoded exactly once
    assert int(segments) >= 2 * 3600 / 30  # in segments of at most 30 s
    whole_signal = 2 * 3600 * rate * 4
    message = f"peak memory grew by {int(growth) / 1e6:.0f} MB (whole signal {whole_signal / 1e6:.0f} MB)"
    assert int(growth) < 100e6, message
    print(message)
    assert float(last_end) <= 2 * 3600 and ordered == "1"  # word times are file times, in order


def test_segments_end_in_the_quietest_spot():
    rate = 1000
    signal = torch.ones(40 * rate)
    signal[27 * rate : 27 * rate + 100] = 0.0  # a 0.1 s pause inside the search window (25-30 s)
    cut = quiet_cut(signal, 30 * rate, rate)
    assert 27 * rate <= cut <= 27 * rate + 100
    assert quiet_cut(torch.ones(40 * rate), 30 * rate, rate) <= 30 * rate  # no pause: still within the segment
