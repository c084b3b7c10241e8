"""``asr transcribe``: inputs expanded (:mod:`asr.inputs`), decoded in batches by the Transcriber, written in a format.

On a terminal a progress bar counts files and audio; otherwise the command is quiet apart from one line
per file written (``--output-dir``) or the transcripts themselves (stdout).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from asr.errors import AsrError


def _progress(total: int, enabled: bool):
    """A tqdm bar on stderr counting files, or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="file", file=sys.stderr, dynamic_ncols=True, leave=False)


def cmd_transcribe(args: argparse.Namespace, decoder_overrides: dict) -> None:
    from asr.formats import EXTENSIONS, CueOptions, format_name, render
    from asr.inputs import expand_inputs
    from asr.io_utils import atomic_write
    from asr.transcribe import Transcriber

    fmt = format_name(args.format)
    try:
        cues = CueOptions(max_chars=args.max_line_chars, max_lines=args.max_lines, min_gap=args.cue_gap,
                          max_duration=args.max_cue_seconds)
    except ValueError as exc:
        raise AsrError(f"asr transcribe: {exc}") from None
    out_dir = Path(args.output_dir) if args.output_dir else None
    plot_dir = Path(args.plot) if args.plot else None
    # The model first: a bad model file is the error to report even when the inputs are wrong too.
    transcriber = Transcriber(args.model, decoder_overrides=decoder_overrides, segmenter=args.segmenter,
                              ensemble=args.ensemble or ())
    with expand_inputs(args.audio) as inputs:
        if out_dir is None and fmt in ("srt", "vtt", "tsv") and len(inputs) > 1:
            raise AsrError(f"--format {fmt} with {len(inputs)} input files: give --output-dir DIR (one file each)")
        todo = []
        for item in inputs:
            target = out_dir / item.output.with_name(item.output.name + EXTENSIONS[fmt]) if out_dir else None
            if target is not None and target.exists() and not args.overwrite:
                print(f"skipped {item.name}: {target} exists (--overwrite replaces it)", file=sys.stderr)
                continue
            todo.append((item, target))
        bar = _progress(len(todo), sys.stderr.isatty() and len(todo) > 1)
        results = transcriber.transcribe_iter([item.path for item, _ in todo])
        try:
            for item, target in todo:
                # Results come file by file (a batch at a time), so earlier files are out before a bad one stops us.
                hyp = next(results)
                if plot_dir is not None:
                    _plot(transcriber, item, hyp, plot_dir / item.output.with_name(item.output.name + ".png"))
                _write(hyp, fmt, cues, item, target, len(inputs) > 1, bar, render, atomic_write)
                if bar is not None:
                    bar.update(1)
        except AsrError as exc:
            message = str(exc)
            for item, _ in todo:  # <stdin>, not the temporary file it was copied to
                message = message.replace(str(item.path), item.name) if item.name != str(item.path) else message
            raise type(exc)(message) from None
        finally:
            if bar is not None:
                bar.close()
        if bar is not None:
            print(f"transcribed {bar.n} files in {bar.format_interval(bar.format_dict['elapsed'])}", file=sys.stderr)


def _write(hyp, fmt, cues, item, target, several: bool, bar, render, atomic_write) -> None:
    if target is not None:
        with atomic_write(target) as handle:
            handle.write(render(hyp, fmt, cues, source=item.name, indent=2))
        (bar.write if bar is not None else print)(f"wrote {target}", file=sys.stderr)
    elif fmt == "txt":
        print(f"{item.name}\t{hyp.text}" if several else hyp.text)
    else:
        sys.stdout.write(render(hyp, fmt, cues, source=item.name))
        sys.stdout.flush()


def _plot(transcriber, item, hyp, out: Path) -> None:
    from asr.audio import audio_info
    from asr.plots import plot_transcript

    feats = transcriber.load_for_plot(item.path)
    plot_transcript(feats, 1.0 / transcriber.bundle.features.frame_rate, hyp, out, title=item.name,
                    shown_seconds=audio_info(item.path, verify=False)[2])
