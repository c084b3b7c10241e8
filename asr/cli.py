"""The ``asr`` command: a thin layer over the Python API. User errors print one line (``--debug`` for more)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from asr.errors import AsrError

GENERIC_FORMATS = ("kaldi", "nemo", "folder")
CORPORA = ("yesno", "fsdd", "speechocean762", "demo")


def _cmd_prepare(args: argparse.Namespace) -> None:
    if args.kind in GENERIC_FORMATS:
        from asr.data.importers import import_corpus
        from asr.data.manifest import total_hours, write_manifest

        if args.source is None:
            raise AsrError(f"asr prepare {args.kind}: give the source to import")
        out = Path(args.output or f"{args.kind}.jsonl")
        utts = import_corpus(args.kind, Path(args.source))
        write_manifest(out, utts)
        print(f"wrote {out}: {len(utts)} utterances, {total_hours(utts):.2f} h")
        return
    out_dir = Path(args.output or f"data/{args.kind}")
    if args.kind == "demo":
        from asr.data.corpora.demo import generate_demo_corpus

        written = generate_demo_corpus(out_dir, seed=args.seed)
    else:
        if args.source is None:
            raise AsrError(f"asr prepare {args.kind}: give the corpus folder")
        if args.kind == "yesno":
            from asr.data.corpora.yesno import prepare_yesno

            written = prepare_yesno(Path(args.source), out_dir)
        elif args.kind == "fsdd":
            from asr.data.corpora.fsdd import prepare_fsdd

            written = prepare_fsdd(Path(args.source), out_dir, held_out_speaker=args.held_out_speaker)
        else:
            from asr.data.corpora.speechocean762 import prepare_speechocean762

            written = prepare_speechocean762(Path(args.source), out_dir)
    for name, path in written.items():
        print(f"{name}: {path}")


def _cmd_train(args: argparse.Namespace) -> None:
    from asr.config import load_config
    from asr.train import train

    config = load_config(args.config, args.overrides)
    best = train(config, resume=args.resume)
    print(f"best model: {best}")


def _decoder_overrides(args: argparse.Namespace) -> dict:
    """Decoder flags given on the command line; the rest comes from the settings stored with the model."""
    overrides = {}
    for flag, key in (("decoder", "kind"), ("lexicon", "lexicon"), ("beam_size", "beam_size"),
                      ("beam_threshold", "beam_threshold"), ("lm_weight", "lm_weight"),
                      ("word_score", "word_score"), ("nbest", "nbest"), ("hotword_boost", "hotword_boost")):
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    if args.lm is not None:
        overrides["lm"] = str(Path(args.lm).absolute()) if args.lm else ""
    if overrides.get("lexicon") not in (None, "", "lm"):
        overrides["lexicon"] = str(Path(overrides["lexicon"]).absolute())
    hotwords = list(args.hotword or []) + [f"@{Path(f).absolute()}" for f in args.hotwords or []]
    if hotwords:
        overrides["hotwords"] = hotwords
    if "kind" not in overrides and (args.lm or hotwords or args.lexicon):
        overrides["kind"] = "beam"  # these options only mean something to the beam search
    return overrides


def _add_decoder_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decoding (defaults: the settings stored with the model)")
    g.add_argument("--decoder", choices=("greedy", "beam"))
    g.add_argument("--lm", help="word n-gram LM in ARPA format (from 'asr lm build'); '' for none")
    g.add_argument("--lexicon", help="lexicon or word-list file, or 'lm' for the LM's vocabulary; "
                   "'' for lexicon-free decoding")
    g.add_argument("--beam-size", type=int)
    g.add_argument("--beam-threshold", type=float)
    g.add_argument("--lm-weight", type=float)
    g.add_argument("--word-score", type=float)
    g.add_argument("--nbest", type=int, help="keep this many hypotheses (json output lists them)")
    g.add_argument("--hotword", action="append", metavar="WORD[:BOOST]",
                   help="raise the score of a word or phrase; repeatable")
    g.add_argument("--hotwords", action="append", metavar="FILE", help="file with one WORD[:BOOST] per line")
    g.add_argument("--hotword-boost", type=float, help="boost for hotwords given without one")


def _cmd_test(args: argparse.Namespace) -> None:
    from asr.evaluate import evaluate

    out_dir = Path(args.output or Path(args.model).parent / f"test_{Path(args.manifest).stem}")
    report = evaluate(args.model, args.manifest, out_dir, worst=args.worst, decoder_overrides=_decoder_overrides(args))
    print(report.summary())
    print(f"hypotheses and report in {out_dir}")


def _cmd_transcribe(args: argparse.Namespace) -> None:
    from asr.transcribe import Transcriber

    transcriber = Transcriber(args.model, decoder_overrides=_decoder_overrides(args))
    for path in args.audio:
        # One file at a time, so a bad file is reported by name and earlier results are already printed.
        (hyp,) = transcriber.transcribe([path])
        if args.format == "json":
            entry = {"file": str(path), "text": hyp.text, "words": [w.__dict__ for w in hyp.words]}
            if len(hyp.nbest) > 1:
                entry["nbest"] = [{"text": t, "score": round(sc, 4)} for t, sc in hyp.nbest]
            print(json.dumps(entry, ensure_ascii=False))
        else:
            print(f"{path}\t{hyp.text}" if len(args.audio) > 1 else hyp.text)


def _cmd_plot(args: argparse.Namespace) -> None:
    from asr.plots import plot_training_curves

    out = plot_training_curves(args.exp_dir, args.output or Path(args.exp_dir) / "curves.png")
    print(f"wrote {out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="Recurrent CTC speech recognition.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="turn a corpus into JSON-lines manifests",
                       description="Import a corpus. Generic formats (kaldi data dir, nemo manifest, folder of "
                       "audio + .txt) write one manifest; named corpora write their splits into a folder; "
                       "'demo' generates the built-in synthetic corpus (no source needed).")
    p.add_argument("kind", choices=GENERIC_FORMATS + CORPORA)
    p.add_argument("source", nargs="?", help="corpus folder, Kaldi data dir, NeMo manifest or audio folder")
    p.add_argument("-o", "--output", help="manifest file (generic formats) or output folder (corpora)")
    p.add_argument("--held-out-speaker", default="theo", help="fsdd: the speaker kept for testing")
    p.add_argument("--seed", type=int, default=0, help="demo: generator seed")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("train", help="train a model from a YAML config",
                       description="Train under Lightning. Overrides look like section.key=value, "
                       "e.g. model.cell=gru trainer.max_epochs=20 data.train=data/train.jsonl.")
    p.add_argument("--config", "-c", help="YAML config (sections: data, features, specaugment, text, model, "
                   "optim, trainer, decoder)")
    p.add_argument("--resume", action="store_true", help="continue from <exp_dir>/checkpoints/last.ckpt")
    p.add_argument("overrides", nargs="*", help="section.key=value")
    p.set_defaults(func=_cmd_train)

    for name, helptext in (("test", "decode a manifest and report WER/CER"),
                           ("transcribe", "print the transcript of audio files")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("model", help="model file (model_best.pt from a training run)")
        _add_decoder_options(p)
        if name == "test":
            p.add_argument("manifest", help="JSON-lines manifest with reference transcripts")
            p.add_argument("-o", "--output", help="folder for hyps.jsonl and report.txt")
            p.add_argument("--worst", type=int, default=10, help="alignments of this many worst utterances")
            p.set_defaults(func=_cmd_test)
        else:
            p.add_argument("audio", nargs="+", help="audio files (wav, flac, ogg, opus, mp3)")
            p.add_argument("--format", choices=("text", "json"), default="text")
            p.set_defaults(func=_cmd_transcribe)
    p = sub.add_parser("plot", help="draw training curves of a run to a PNG",
                       description="Plot train/dev loss and dev WER/CER from <exp_dir>/logs (resumed runs joined).")
    p.add_argument("exp_dir", help="the training folder (trainer.exp_dir)")
    p.add_argument("-o", "--output", help="image file (default: <exp_dir>/curves.png)")
    p.set_defaults(func=_cmd_plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if (args.verbose or args.command == "train") else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except AsrError as exc:
        if args.debug:
            raise
        print(f"asr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("asr: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
