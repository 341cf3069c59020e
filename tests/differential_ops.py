"""Ops for the hypothesis-generated differential suite (tests/test_differential_random.py): module-level so each
step script captures their source; small, deterministic, one of them always raises, and two fail a given number of
attempts before they succeed (retried by Argo's retryStrategy and by the local engine)."""

from __future__ import annotations

from pathlib import Path
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


def _attempt(folder: str, name: str, fails: int, x: int) -> int:
    """One attempt, counted in the file folder/name: the first `fails` attempts fail (exit status 1)."""
    counter = Path(folder, name)
    with open(counter, "a", encoding="utf-8") as f:
        f.write("x")
    attempt = len(counter.read_text(encoding="utf-8"))
    if attempt <= fails:
        raise SystemExit(f"attempt {attempt} of {name} fails")
    return x + attempt


@fp.op(retries=2)
def flaky(folder: str, name: str, fails: int, x: int) -> int:
    return _attempt(folder, name, fails, x)


@fp.op(retries=fp.Retry(1, on="failure"))
def flaky_once(folder: str, name: str, fails: int, x: int) -> int:
    return _attempt(folder, name, fails, x)
