"""``asr lm`` subcommands (build, eval, mix, tune): argument handling over asr.lm and asr.tune."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from asr.errors import AsrError


def floats(text: str | list[float]) -> list[float]:
    if isinstance(text, list):  # already parsed and checked by its option's type (asr.options.number_list)
        return text
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise AsrError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_lm_build(args: argparse.Namespace) -> None:
    from asr.lm import LmConfig, build_lm_from_file
    from asr.text import TextNormalizer

    normalizer = TextNormalizer()
    if args.model:
        from asr.checkpoint import load_bundle

        normalizer = load_bundle(args.model).normalizer
    config = LmConfig(order=args.order, prune=args.prune or [], vocab_limit=args.vocab_limit, unk=not args.no_unk)
    text = Path(args.text)
    if text.suffix == ".jsonl":  # a manifest: its transcripts are the text
        import tempfile

        from asr.data.manifest import read_manifest

        tmp = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8")
        with tmp:
            tmp.writelines(u.text + "\n" for u in read_manifest(text))
        text = Path(tmp.name)
    try:
        model = build_lm_from_file(text, config, normalizer=None if args.no_normalize else normalizer)
    finally:
        if text != Path(args.text):
            text.unlink()
    model.write_arpa(args.output)
    counts = ", ".join(f"{n}-grams: {c}" for n, c in enumerate(model.counts, start=1))
    print(f"wrote {args.output}: order {model.order}, vocabulary {len(model.vocab)}, {counts}")


def read_sentences(path: str, normalizer_model: str | None) -> list[str]:
    """Normalised sentences of a text file (one per line) or a .jsonl manifest's transcripts."""
    from asr.text import TextNormalizer

    normalizer = TextNormalizer()
    if normalizer_model:
        from asr.checkpoint import load_bundle

        normalizer = load_bundle(normalizer_model).normalizer
    if Path(path).suffix == ".jsonl":
        from asr.data.manifest import read_manifest

        texts = [u.text for u in read_manifest(path)]
    else:
        from asr.io_utils import read_text_lines

        texts = read_text_lines(path)
    return [t for t in (normalizer(x) for x in texts) if t]


def cmd_lm_eval(args: argparse.Namespace) -> None:
    from asr.lm.arpa import ArpaModel
    from asr.lm.mix import model_perplexity

    texts = read_sentences(args.text, args.model)
    for path in args.lm:
        result = model_perplexity(ArpaModel.load(path), texts)
        print(f"{path}: perplexity {result.perplexity:.1f} over {result.tokens} tokens, "
              f"OOV {100 * result.oov_rate:.2f}% ({result.oov} of {result.words} words)")


def cmd_lm_mix(args: argparse.Namespace) -> None:
    from asr.lm.arpa import ArpaModel
    from asr.lm.mix import interpolate, tune_weights

    models = [ArpaModel.load(p) for p in args.lm]
    if args.tune:
        weights, ppl = tune_weights(models, read_sentences(args.tune, args.model))
        print(f"weights tuned on {args.tune}: {', '.join(f'{w:.2f}' for w in weights)} (perplexity {ppl:.1f})")
    elif args.weights:
        weights = floats(args.weights)
    else:
        raise AsrError("asr lm mix: give --weights or --tune")
    counts = interpolate(models, weights, args.output)
    print(f"wrote {args.output}: " + ", ".join(f"{n}-grams: {c}" for n, c in enumerate(counts, start=1)))


def cmd_lm_tune(args: argparse.Namespace) -> None:
    import dataclasses

    from asr.checkpoint import load_bundle, save_bundle
    from asr.cli import _decoder_overrides  # shared with asr test/transcribe; imported late (cli imports us)
    from asr.tune import tune_decoder

    if args.write_model and args.ensemble:
        raise AsrError("asr lm tune: --write-model writes one model file, which cannot hold an ensemble; "
                       "use -o for the settings and give them to asr test/transcribe with the same --ensemble")
    bundle = load_bundle(args.model)
    base = dataclasses.replace(bundle.decoder, **{**_decoder_overrides(args), "kind": "beam"})
    best, results = tune_decoder(args.model, args.manifest, base, floats(args.lm_weights),
                                 floats(args.word_scores), trials=args.trials, seed=args.seed,
                                 ensemble=args.ensemble or ())
    for r in sorted(results, key=lambda r: (r.wer, r.cer)):
        print(f"lm_weight {r.lm_weight:6.3f}  word_score {r.word_score:6.3f}  WER {100 * r.wer:6.2f}%  "
              f"CER {100 * r.cer:6.2f}%  ({r.seconds:.1f}s)")
    print(f"best: lm_weight {best.lm_weight} word_score {best.word_score}")
    if args.output:
        from asr.io_utils import atomic_write

        with atomic_write(args.output) as handle:
            json.dump(dataclasses.asdict(best), handle, indent=2)
        print(f"wrote {args.output}")
    if args.write_model:
        bundle.decoder = best
        save_bundle(bundle, args.write_model)
        print(f"wrote {args.write_model}: transcribe and test use these decoder settings by default")
