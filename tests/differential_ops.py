"""Ops for the hypothesis-generated differential suite (tests/test_differential_random.py): module-level so each
step script captures their source; small, deterministic, and one of them always raises."""

from __future__ import annotations

from typing import NamedTuple

import flowpack as fp


class Stats(NamedTuple):
    count: int
    label: str


@fp.op
def inc(x: int) -> int:
    return x + 1


@fp.op
def add(a: int, b: int) -> int:
    return a + b


@fp.op
def sq(x: int) -> int:
    return x * x


@fp.op
def upto(n: int) -> list:
    return list(range(n))


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.op
def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


@fp.op
def fallback(x: int = 7) -> int:
    return x


@fp.op
def echo(s: str) -> str:
    return s + " ✓"


@fp.op
def stats(xs: list) -> Stats:
    return Stats(len(xs), f"n=\"{len(xs)}\"")


@fp.op
def shout(label: str, count: int) -> str:
    return f"{label}:{count}"
