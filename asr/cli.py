"""The ``asr`` command: a thin layer over the Python API. User errors print one line (``--debug`` for more)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from asr import cli_data, cli_lm, cli_serve, limits
from asr import options as opt
from asr.data.corpora import CORPORA
from asr.errors import AsrError

GENERIC_FORMATS = ("kaldi", "nemo", "folder", "csv", "commonvoice", "lhotse", "manifest")


def _cmd_prepare(args: argparse.Namespace) -> None:
    if args.kind in GENERIC_FORMATS:
        from asr.data.importers import import_corpus, write_lhotse_cuts
        from asr.data.manifest import total_hours, write_manifest

        if args.source is None:
            raise AsrError(f"asr prepare {args.kind}: give the source to import")
        lhotse = args.output_format == "lhotse"
        out = Path(args.output or (f"{args.kind}_cuts.jsonl.gz" if lhotse else f"{args.kind}.jsonl"))
        utts = import_corpus(args.kind, Path(args.source))
        (write_lhotse_cuts if lhotse else write_manifest)(out, utts)
        print(f"wrote {out}: {len(utts)} utterances, {total_hours(utts):.2f} h")
        return
    if args.output_format != "manifest":
        raise AsrError(f"asr prepare {args.kind}: --output-format lhotse converts one manifest: prepare the corpus, "
                       f"then asr prepare manifest data/{args.kind}/train.jsonl --output-format lhotse")
    from asr.data.corpora import prepare_corpus

    written = prepare_corpus(args.kind, args.source, Path(args.output or f"data/{args.kind}"),
                             held_out_speaker=args.held_out_speaker, dev_speaker=args.dev_speaker, seed=args.seed)
    for name, path in written.items():
        print(f"{name}: {path}")


def _cmd_download(args: argparse.Namespace) -> None:
    from asr.data.download import download_corpus

    # The folder alone on stdout, so a recipe can write corpus=$(asr download NAME downloads).
    print(download_corpus(args.corpus, args.dest, url=args.url, sha256=args.sha256))


def _cmd_train(args: argparse.Namespace) -> None:
    from asr.config import load_config
    from asr.distributed import launcher_rank
    from asr.train import train

    config = load_config(args.config, args.overrides)
    if args.init:
        config.trainer.init = args.init  # relative to the current folder, like overrides
    best = train(config, resume=args.resume)
    if launcher_rank() == 0:  # under DDP every rank returns here; one line is enough
        print(f"best model: {best}")


def _decoder_overrides(args: argparse.Namespace) -> dict:
    """Decoder flags given on the command line; the rest comes from the settings stored with the model."""
    overrides = {}
    if args.decoder is not None:
        overrides["kind"] = args.decoder
    for key in ("lexicon", "beam_size", "beam_size_token", "beam_threshold", "blank_skip", "lm_weight", "word_score",
                "nbest", "hotword_boost", "token_min_logp", "unk_prefix_score"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.lm is not None:
        overrides["lm"] = str(Path(args.lm).absolute()) if args.lm else ""
    if overrides.get("lexicon") not in (None, "", "lm", "model"):
        overrides["lexicon"] = str(Path(overrides["lexicon"]).absolute())
    hotwords = list(args.hotword or []) + [f"@{Path(f).absolute()}" for f in args.hotwords or []]
    if hotwords:
        overrides["hotwords"] = hotwords
    if "kind" not in overrides and (args.lm or hotwords or args.lexicon):
        overrides["kind"] = "beam"  # these options only mean something to the beam search
    return overrides


def _add_ensemble_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ensemble", action="append", metavar="MODEL",
                   help="another model file (same features, units and subsampling) whose per-frame posteriors "
                   "are averaged with the model's before decoding; repeatable")


def _add_decoder_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decoding (defaults: the settings stored with the model)")
    g.add_argument("--decoder", choices=("greedy", "beam"))
    g.add_argument("--lm", help="word n-gram LM in ARPA format (from 'asr lm build'); '' for none")
    g.add_argument("--lexicon", help="lexicon or word-list file; 'lm' for the LM's vocabulary; 'model' for a "
                   "phone model's training words; '' for the default (characters: lexicon-free; phones: "
                   "training words plus the LM's words)")
    g.add_argument("--beam-size", type=opt.integer(1, limits.MAX_BEAM))
    g.add_argument("--beam-size-token", type=opt.integer(0, limits.MAX_VOCAB), help="tokens tried per frame (0 = all)")
    g.add_argument("--beam-threshold", type=opt.number(0, 1e6, low_open=True))
    g.add_argument("--token-min-logp", type=opt.number(-1000, 0), metavar="LOGP",
                   help="character models' beam search: skip tokens below this log-probability in a frame "
                   "(default -5; -1000 = off)")
    g.add_argument("--unk-prefix-score", type=opt.number(-1000, 0), metavar="SCORE",
                   help="lexicon-free search with an LM: charge for a word outside the LM's words (default -25; "
                   "0 = off)")
    g.add_argument("--blank-skip", type=opt.number(0, 1, low_open=True), metavar="P",
                   help="flashlight's beam searches (phone lexicons): runs of frames with blank probability above "
                   "P keep one frame before the search (default 0.999; 1 = off)")
    g.add_argument("--lm-weight", type=opt.number(-1000, 1000))
    g.add_argument("--word-score", type=opt.number(-1000, 1000))
    g.add_argument("--nbest", type=opt.integer(1, limits.MAX_NBEST),
                   help="keep this many hypotheses (json output lists them)")
    g.add_argument("--hotword", action="append", metavar="WORD[:BOOST]",
                   help="raise the score of a word or phrase; repeatable")
    g.add_argument("--hotwords", action="append", metavar="FILE", help="file with one WORD[:BOOST] per line")
    g.add_argument("--hotword-boost", type=opt.number(-1000, 1000), help="boost for hotwords given without one")


def _cmd_test(args: argparse.Namespace) -> None:
    from asr.evaluate import evaluate

    out_dir = Path(args.output or Path(args.model).parent / f"test_{Path(args.manifest).stem}")
    report = evaluate(args.model, args.manifest, out_dir, worst=args.worst, decoder_overrides=_decoder_overrides(args),
                      ensemble=args.ensemble or ())
    print(report.summary())
    print(f"hypotheses and report in {out_dir}")


def _cmd_transcribe(args: argparse.Namespace) -> None:
    from asr.cli_transcribe import cmd_transcribe

    cmd_transcribe(args, _decoder_overrides(args))


def _cmd_plot(args: argparse.Namespace) -> None:
    from asr.plots import plot_training_curves

    out = plot_training_curves(args.exp_dir, args.output or Path(args.exp_dir) / "curves.png")
    print(f"wrote {out}")


def _cmd_average(args: argparse.Namespace) -> None:
    from asr.average import write_average

    print(f"wrote {write_average(args.models, args.output)} (mean of {len(args.models)} models)")


# Options whose value is a comma-separated list of numbers; the list may start with a minus sign.
_NUMBER_LIST_OPTIONS = ("--lm-weights", "--word-scores")


def _is_number_list(text: str) -> bool:
    try:
        [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        return False
    return True


class _Parser(argparse.ArgumentParser):
    """argparse takes "-1,0,1" after an option for another option (only "-1" or "-1.5" pass as negative
    numbers); this parser first joins such a value to its option, as the user could: --word-scores=-1,0,1.

    Usage errors are one line, like every other user error: ``asr: error: asr test: argument --nbest: ...``."""

    def error(self, message: str):
        message = message if len(message) <= 300 else f"{message[:297]}..."
        self.exit(2, f"asr: error: {self.prog}: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        joined: list[str] = []
        i = 0
        while i < len(args):
            if args[i] == "--":
                joined += args[i:]
                break
            if (args[i] in _NUMBER_LIST_OPTIONS and i + 1 < len(args) and args[i + 1].startswith("-")
                    and _is_number_list(args[i + 1])):
                joined.append(f"{args[i]}={args[i + 1]}")
                i += 2
                continue
            joined.append(args[i])
            i += 1
        return super().parse_known_args(joined, namespace)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asr-rnn-ctc")  # pyproject.toml's version, the only place it is written
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="asr", description="Recurrent CTC speech recognition.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prepare", help="turn a corpus into JSON-lines manifests",
                       description="Import a corpus. Generic formats (kaldi data dir, nemo manifest, folder of "
                       "audio + .txt, csv/tsv table, commonvoice TSV, lhotse cuts or supervisions JSONL, our own "
                       "manifest) write one manifest (or lhotse cuts); named corpora write their splits into a folder; "
                       "'demo' generates the built-in synthetic corpus (no source needed).")
    p.add_argument("kind", choices=GENERIC_FORMATS + tuple(CORPORA))
    p.add_argument("source", nargs="?", help="corpus folder, Kaldi data dir, NeMo manifest, audio folder, CSV/TSV "
                   "file, Common Voice TSV (or release folder), lhotse JSONL(.gz) or manifest")
    p.add_argument("-o", "--output", help="manifest file (generic formats) or output folder (corpora)")
    p.add_argument("--output-format", choices=("manifest", "lhotse"), default="manifest",
                   help="generic formats: write our JSON-lines manifest (default) or a lhotse CutSet JSONL "
                   "(.jsonl.gz: gzipped)")
    p.add_argument("--held-out-speaker", default="theo", help="fsdd: the speaker kept for testing")
    p.add_argument("--dev-speaker", help="fsdd: also write select_{train,dev,test}.jsonl: train on the other "
                   "speakers, test on this one, to choose a config without looking at the held-out speaker")
    p.add_argument("--seed", type=opt.integer(0, 2**32 - 1), default=0, help="demo: generator seed")
    p.set_defaults(func=_cmd_prepare)

    from asr.data.download import CORPUS_URLS

    p = sub.add_parser("download", help="download and unpack a public corpus (checksum-verified where known)",
                       description="Prints the corpus folder. Done once: a finished download is reused.")
    p.add_argument("corpus", choices=sorted(CORPUS_URLS))
    p.add_argument("dest", nargs="?", default="downloads", help="folder to download into (default: downloads)")
    p.add_argument("--url", help="download from this address instead (commonvoice: the link Mozilla gives you)")
    p.add_argument("--sha256", help="checksum of the file at --url, verified when given")
    p.set_defaults(func=_cmd_download)
    cli_data.add_parser(sub)  # asr shard

    p = sub.add_parser("train", help="train a model from a YAML config",
                       description="Train under Lightning. Overrides look like section.key=value, "
                       "e.g. model.cell=gru trainer.max_epochs=20 data.train=data/train.jsonl.")
    p.add_argument("--config", "-c", help="YAML config (sections: data, features, specaugment, text, model, "
                   "optim, trainer, decoder)")
    p.add_argument("--resume", action="store_true", help="continue from <exp_dir>/checkpoints/last.ckpt")
    p.add_argument("--init", metavar="MODEL", help="fine-tune: start from this model file (sets trainer.init); "
                   "its architecture, features, units and normaliser are kept, new characters get new outputs")
    p.add_argument("overrides", nargs="*", help="section.key=value")
    p.set_defaults(func=_cmd_train)

    for name, helptext in (("test", "decode a manifest and report WER/CER"),
                           ("transcribe", "transcribe audio files, folders or stdin to text, JSON, subtitles or TSV")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("model", help="model file (model_best.pt from a training run)")
        _add_ensemble_option(p)
        _add_decoder_options(p)
        if name == "test":
            p.add_argument("manifest", help="JSON-lines manifest with reference transcripts")
            p.add_argument("-o", "--output", help="folder for hyps.jsonl and report.txt")
            p.add_argument("--worst", type=opt.integer(0, 1_000_000), default=10,
                           help="alignments of this many worst utterances")
            p.set_defaults(func=_cmd_test)
        else:
            p.add_argument("audio", nargs="+", help="audio files (wav, flac, ogg, opus, mp3; any rate), folders "
                           "(searched recursively), glob patterns, or - for standard input")
            p.add_argument("--format", choices=("txt", "json", "srt", "vtt", "tsv", "text"), default="txt",
                           help="txt: the text; json: words with times and confidences (one line per file on "
                           "stdout); srt, vtt: subtitles; tsv: one word per row (text = txt)")
            p.add_argument("-o", "--output-dir", metavar="DIR", help="write one file per input here (input name "
                           "+ format extension; folders' layout mirrored) instead of printing")
            p.add_argument("--overwrite", action="store_true", help="replace existing files in --output-dir "
                           "(default: keep them and skip their inputs)")
            p.add_argument("--plot", metavar="DIR", help="also draw one PNG per input here: spectrogram, words at "
                           "their times, confidences (names as for --output-dir)")
            p.add_argument("--segmenter", choices=("vad", "quiet"), default="vad",
                           help="how recordings over a minute are cut: vad (default): the speech regions Silero "
                           "VAD finds, silence and noise between them skipped; quiet: 30 s segments ending at "
                           "quiet points, everything decoded")
            g = p.add_argument_group("subtitles (srt, vtt)")
            g.add_argument("--max-line-chars", type=opt.integer(1, 10_000), default=42, help="characters per line")
            g.add_argument("--max-lines", type=opt.integer(1, 100), default=2, help="lines per cue")
            g.add_argument("--cue-gap", type=opt.number(0, 3600), default=0.5,
                           help="a pause this long (s) starts a new cue")
            g.add_argument("--max-cue-seconds", type=opt.number(0, 3600, low_open=True), default=7.0,
                           help="longest cue (s)")
            p.set_defaults(func=_cmd_transcribe)
    cli_serve.add_parser(sub, _add_decoder_options, _decoder_overrides)
    lm = sub.add_parser("lm", help="build, evaluate, mix and tune word n-gram language models").add_subparsers(
        dest="lm_command", required=True, metavar="LM_COMMAND")
    p = lm.add_parser("build", help="estimate a modified Kneser-Ney n-gram LM and write ARPA",
                      description="One sentence per line; text is normalised like the model's transcripts.")
    p.add_argument("text", help="training text, one sentence per line, or a .jsonl manifest (its transcripts)")
    p.add_argument("-o", "--output", required=True, help="ARPA file to write")
    p.add_argument("--order", type=opt.integer(1, limits.MAX_LM_ORDER), default=3)
    p.add_argument("--prune", type=opt.integer(0, 10**9), nargs="+", metavar="N",
                   help="per order, drop n-grams seen at most N times (first must be 0), e.g. --prune 0 1 1")
    p.add_argument("--vocab-limit", type=opt.integer(0, 10**9), default=0,
                   help="keep the N most frequent words; others become <unk>")
    p.add_argument("--no-unk", action="store_true", help="leave <unk> out of the model")
    p.add_argument("--model", help="take the text normaliser from this model file (default: lower case, "
                   "punctuation removed)")
    p.add_argument("--no-normalize", action="store_true", help="use the text as it is")
    p.set_defaults(func=cli_lm.cmd_lm_build)
    p = lm.add_parser("eval", help="perplexity and OOV rate of LMs on a text or manifest")
    p.add_argument("lm", nargs="+", help="ARPA files")
    p.add_argument("text", help="text (one sentence per line) or a .jsonl manifest")
    p.add_argument("--model", help="take the text normaliser from this model file")
    p.set_defaults(func=cli_lm.cmd_lm_eval)
    p = lm.add_parser("mix", help="interpolate two or more ARPA LMs into one",
                      description="p(w|h) = sum of weight_i * p_i(w|h); back-off weights recomputed.")
    p.add_argument("lm", nargs="+", help="ARPA files")
    p.add_argument("-o", "--output", required=True, help="ARPA file to write")
    p.add_argument("--weights", type=opt.number_list(0, 1), help="comma-separated weights, one per LM, summing to 1")
    p.add_argument("--tune", help="two LMs: choose the weights by perplexity on this text or manifest")
    p.add_argument("--model", help="take the text normaliser from this model file")
    p.set_defaults(func=cli_lm.cmd_lm_mix)
    p = lm.add_parser("tune", help="search LM weight and word score on a dev manifest")
    p.add_argument("model")
    p.add_argument("manifest")
    p.add_argument("--lm-weights", type=opt.number_list(-1000, 1000), default="0,0.25,0.5,0.75,1,1.5,2",
                   help="comma-separated values to try")
    p.add_argument("--word-scores", type=opt.number_list(-1000, 1000), default="-1,0,1,2",
                   help="comma-separated values to try, e.g. -2,-1,0")
    p.add_argument("--trials", type=opt.integer(0, limits.MAX_TRIALS), default=0,
                   help="random points of the grid to try (0 = the whole grid)")
    p.add_argument("--seed", type=opt.integer(0, 2**32 - 1), default=0)
    p.add_argument("-o", "--output", help="write the best decoder settings (JSON)")
    p.add_argument("--write-model", help="write a copy of the model that uses the best settings by default")
    _add_ensemble_option(p)
    _add_decoder_options(p)
    p.set_defaults(func=cli_lm.cmd_lm_tune)

    p = sub.add_parser("plot", help="draw training curves of a run to a PNG",
                       description="Plot train/dev loss and dev WER/CER from <exp_dir>/logs (resumed runs joined).")
    p.add_argument("exp_dir", help="the training folder (trainer.exp_dir)")
    p.add_argument("-o", "--output", help="image file (default: <exp_dir>/curves.png)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("average", help="average the weights of model files of one run",
                       description="Write a model whose weights are the mean of MODEL files (e.g. the last epochs "
                                   "kept with trainer.average_last). They must share shape, features and tokenizer.")
    p.add_argument("models", nargs="+", help="model files (.pt)")
    p.add_argument("-o", "--output", required=True, help="the averaged model file")
    p.set_defaults(func=_cmd_average)
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
    except BrokenPipeError:
        # The reader went away (`asr test ... | head -1`): stop quietly, as other Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
