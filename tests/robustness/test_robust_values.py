"""Family 3: values nobody checked. Every numeric command-line option and every numeric config key refuses
zero/negative (where out of range), NaN, infinities and absurd sizes with one line naming the option or key,
and never prints a huge value whole.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing

import pytest

from asr.cli import build_parser, main
from asr.config import TrainConfig, load_config
from asr.errors import ConfigError

# Positional arguments that let each command's options be parsed (parsing fails before anything is read).
_POSITIONALS = {
    "prepare": ["demo"], "test": ["m.pt", "d.jsonl"], "transcribe": ["m.pt", "a.wav"],
    "lm build": ["t.txt", "-o", "o.arpa"], "lm tune": ["m.pt", "d.jsonl"], "lm mix": ["a.arpa", "b.arpa", "-o", "o"],
    "serve": ["m.pt"], "shard": ["m.jsonl", "-o", "shards"], "synth": ["t.txt", "-o", "synth"],
}
HUGE = "9" * 100_000


def _subparsers(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, f"{prefix}{name} ")
    yield prefix.strip(), parser


def _numeric_options() -> list[tuple[str, str, object]]:
    found = []
    for command, parser in _subparsers(build_parser()):
        for action in parser._actions:
            if action.option_strings and (hasattr(action.type, "bounds") or action.type in (int, float)):
                found.append((command, action.option_strings[-1], action.type))
    return found


NUMERIC = _numeric_options()


def test_every_numeric_option_has_a_checked_type() -> None:
    assert len(NUMERIC) >= 20  # the walk really found the options
    unchecked = sorted({opt for _, opt, kind in NUMERIC if not hasattr(kind, "bounds")})
    assert unchecked == [], f"numeric options without a range: {unchecked}"


def _bad_values(kind) -> list[str]:
    values = ["nan", "inf", "-inf", "1e999", HUGE, "-" + HUGE, "abc", ""]
    low, high, low_open = kind.bounds
    if low is not None:
        values.append(str(low) if low_open else str(low - 1))
    if high is not None:
        values.append(str(high * 10 + 1))
    return values


def _run(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command, option, kind", [n for n in NUMERIC if hasattr(n[2], "bounds")],
                         ids=[f"{c} {o}" for c, o, k in NUMERIC if hasattr(k, "bounds")])
def test_bad_values_are_one_line_naming_the_option(command: str, option: str, kind, capsys) -> None:
    for value in _bad_values(kind):
        code, err = _run(command.split() + _POSITIONALS[command] + [f"{option}={value}"], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("asr: error: "), (value[:20], err[:300])
        assert option in lines[0] and len(lines[0]) < 400, lines[0][:400]


def test_edges_of_each_range_are_accepted() -> None:
    for _, _, kind in NUMERIC:
        if not hasattr(kind, "bounds"):
            continue
        low, high, low_open = kind.bounds
        for edge in (low, high):
            if edge is None or (edge == low and low_open):
                continue
            assert kind(str(edge)) == pytest.approx(edge if not isinstance(kind(str(edge)), list) else [edge])


def test_empty_and_oversized_grids_are_refused(capsys) -> None:
    for value in ("", ",", ",".join(["1"] * 1001)):
        code, err = _run(["lm", "tune", "m.pt", "d.jsonl", f"--lm-weights={value}"], capsys)
        assert code == 2 and "--lm-weights" in err and len(err.splitlines()) == 1


def test_hotword_boosts_are_checked(tmp_path) -> None:
    from asr.decode.hotwords import HotwordError, parse_hotword

    for spec in ("word:nan", "word:inf", "word:-inf", "word:1e9"):
        with pytest.raises(HotwordError, match="must be a number in"):
            parse_hotword(spec, 4.0)
    assert parse_hotword("two words:2.5", 4.0).boost == 2.5


# ---- config keys: every numeric key of the training config has a range, checked when read ----

def _numeric_keys() -> list[tuple[str, type]]:
    keys = []
    hints = typing.get_type_hints(TrainConfig)
    for section in dataclasses.fields(TrainConfig):
        cls = hints[section.name]
        cls = next((a for a in typing.get_args(cls) if a is not type(None)), cls)
        for f in dataclasses.fields(cls):
            kind = typing.get_type_hints(cls)[f.name]
            if kind in (int, float) or kind == list[float]:
                keys.append((f"{section.name}.{f.name}", kind))
    return keys


KEYS = _numeric_keys()


def test_every_numeric_config_key_has_a_range_or_choices() -> None:
    from asr.checks import _CHOICES, _RANGES

    assert len(KEYS) >= 40
    assert [k for k, _ in KEYS if k not in _RANGES and k not in _CHOICES] == []


@pytest.mark.parametrize("key, kind", KEYS, ids=[k for k, _ in KEYS])
def test_config_keys_refuse_out_of_range_values(key: str, kind) -> None:
    from asr.checks import _RANGES

    bad = [".nan", ".inf", "-.inf", "1.0e+999", "-" + "9" * 5000, "9" * 5000]
    if key in _RANGES:
        accepts = _RANGES[key][0]
        bad += [v for v in ("-1", "0", "1.0e+12") if not accepts(float(v))]
    for raw in bad:
        value = f"[{raw}]" if kind == list[float] else raw
        if key == "decoder.unk_score" and raw == "-.inf":
            continue  # the one setting where minus infinity means something (never choose unknown words)
        with pytest.raises(ConfigError) as info:
            load_config(None, [f"{key}={value}"])
        message = str(info.value)
        assert key in message and "\n" not in message and len(message) < 400, (raw[:20], message[:200])


def test_config_messages_cut_enormous_values(tmp_path) -> None:
    # a YAML alias repeated makes a value of millions of characters from a few lines
    config = tmp_path / "bomb.yaml"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"] + [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
                                                      for p, c in zip("abcdef", "bcdefg")]
    config.write_text("\n".join(["_:"] + ["  " + line for line in lines]) + "\nmodel:\n  hidden_size: *g\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert len(str(info.value)) < 400 and "\n" not in str(info.value)


def test_numbers_that_overflow_a_float_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="out of range|finite"):
        load_config(None, ["optim.lr=" + "9" * 400])
    assert math.isfinite(load_config(None, ["optim.lr=0.5"]).optim.lr)
