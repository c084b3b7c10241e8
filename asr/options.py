"""Types for numeric command-line options: each value is checked where it is read, as config values are.

A value out of range (zero, negative, NaN, infinite, absurdly large) is refused by argparse with one line
naming the option, e.g. ``asr: error: argument --beam-size: must be in [1, 100000], got '0'``; the value
is cut to about 80 characters, so a pasted megabyte never floods the terminal.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from asr.limits import short

MAX_LIST = 1_000  # values in a grid option (--lm-weights, --word-scores)


def _range_text(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"<= {high:g}"


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in [low, high]."""

    def parse(text: str) -> int:
        digits = text.strip().lstrip("+-")
        if digits.isdigit() and len(digits) > 40:  # beyond any bound here; int() of a megabyte is slow
            value = -1 if text.strip().startswith("-") else 10**40
        else:
            try:
                value = int(text.strip())
            except ValueError:
                value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"expected an integer, got {short(text)}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {_range_text(low, high)}, got {short(text)}")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    parse.bounds = (low, high, False)  # for the tests that try every option's edges
    return parse


def _float(text: str, low: float | None, high: float | None, low_open: bool) -> float:
    try:
        value = float(text) if len(text) <= 100 else math.nan
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {short(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {short(text)}")
    below = low is not None and (value <= low if low_open else value < low)
    if below or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"must be {_range_text(low, high, low_open)}, got {short(text)}")
    return value


def number(low: float | None = None, high: float | None = None, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite float in [low, high] (``low_open``: (low, high])."""

    def parse(text: str) -> float:
        return _float(text, low, high, low_open)

    parse.__name__ = "number"
    parse.bounds = (low, high, low_open)
    return parse


def number_list(low: float | None = None, high: float | None = None) -> Callable[[str], list[float]]:
    """An argparse ``type``: comma-separated finite floats in [low, high], at least one, at most MAX_LIST."""

    def parse(text: str) -> list[float]:
        items = [x for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected at least one comma-separated number, got none")
        if len(items) > MAX_LIST:
            raise argparse.ArgumentTypeError(f"at most {MAX_LIST} values, got {len(items)}")
        return [_float(x.strip(), low, high, False) for x in items]

    parse.__name__ = "number_list"
    parse.bounds = (low, high, False)
    return parse
