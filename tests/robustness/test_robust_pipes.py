"""A reader that goes away (`asr transcribe ... | head -1`) ends the command quietly, as with other Unix tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_closed_stdout_ends_quietly(tiny_model: Path, tiny_corpus: Path) -> None:
    wavs = sorted(str(p) for p in (tiny_corpus / "wav").glob("*.wav"))
    command = [sys.executable, "-c", "import sys; from asr.cli import main; sys.exit(main())", "transcribe",
               str(tiny_model), *wavs]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # before the model has even loaded: every write meets a closed pipe
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
