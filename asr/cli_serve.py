"""``asr serve``: the command-line layer over :mod:`asr.serve` (kept apart so cli.py stays small)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from asr import options as opt
from asr.errors import AsrError


def add_parser(sub, add_decoder_options: Callable[[argparse.ArgumentParser], None],
               decoder_overrides: Callable[[argparse.Namespace], dict]) -> None:
    p = sub.add_parser("serve", help="serve a model over HTTP, with a page to try it in the browser",
                       description="Load MODEL once and answer POST /v1/transcribe (multipart 'file' or raw "
                       "body; ?format=json|txt|srt|vtt|tsv), GET /v1/health and GET /v1/model; the page is "
                       "at /. Binds to localhost unless --host says otherwise; there is no authentication.")
    p.add_argument("model", help="model file (model_best.pt from a training run)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                   "only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=opt.integer(0, 65535), default=8000, help="TCP port (0: any free one; the "
                   "first line printed names it)")
    p.add_argument("--max-upload-mb", type=opt.number(0, 4096, low_open=True), default=25.0,
                   help="largest request body in MiB (413 above)")
    p.add_argument("--max-audio-seconds", type=opt.number(0, 86_400, low_open=True), default=300.0,
                   help="longest audio per request in seconds (413 above)")
    p.add_argument("--slots", type=opt.integer(1, 256), default=2, help="decodes at once (default 2); torch "
                   "gets cores / slots threads each")
    p.add_argument("--max-waiting", type=opt.integer(0, 100_000), default=32,
                   help="requests that may wait for a decode slot; more are answered 503 at once")
    p.add_argument("--segmenter", choices=("vad", "quiet"), default="vad",
                   help="how recordings over a minute are cut (as in asr transcribe)")
    add_decoder_options(p)
    p.set_defaults(func=lambda args: cmd_serve(args, decoder_overrides(args)))


def cmd_serve(args: argparse.Namespace, decoder_overrides: dict) -> None:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401  (uploads)
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise AsrError(f"asr serve needs {exc.name}: pip install 'asr-rnn-ctc[serve]'") from None
    from asr.serve import ServeLimits, TranscriptionService
    from asr.serve.server import run

    limits = ServeLimits(max_request_bytes=int(args.max_upload_mb * 2**20), max_audio_seconds=args.max_audio_seconds,
                         slots=args.slots, max_waiting=args.max_waiting)
    service = TranscriptionService(args.model, limits, decoder_overrides=decoder_overrides, segmenter=args.segmenter)
    run(service, args.host, args.port)
