"""flowpack quick start: plain functions, wired by the data that flows between them.

Run it:    flowpack run examples/quickstart.py:pipeline -p n=5
Render it: flowpack render examples/quickstart.py:pipeline -p n=5
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import NamedTuple

import flowpack as fp

HEADER = "value"  # a module constant: re-emitted into the step scripts that use it


class Summary(NamedTuple):
    count: int
    mean: float


@fp.op
def add(a: int, b: int = 1) -> int:
    """Parameters in, a parameter out."""
    return a + b


@fp.op
def make_table(n: int) -> Path:
    """A file out: written in the step's own working directory, shipped as an artifact."""
    out = Path("table.csv")
    out.write_text(HEADER + "\n" + "\n".join(str(i * i) for i in range(n)) + "\n")
    return out


@fp.op
def summarise(table: Path) -> Summary:
    """A file in, several named outputs back (a NamedTuple)."""
    values = [float(line) for line in table.read_text().splitlines()[1:]]
    return Summary(len(values), statistics.fmean(values))


@fp.op
def report(count: int, mean: float, offset: int):
    """No annotation on the return: the value travels pickled."""
    return {"count": count, "mean": mean, "offset": offset}


@fp.workflow
def pipeline(n: int = 3):
    x = add(n, 1)
    table = make_table(add(x, x))
    s = summarise(table)
    return report(s.count, s.mean, x)


if __name__ == "__main__":
    print(add(1, 2))                        # outside a workflow an op is the plain function: 3
    run = pipeline.run(n=5)                 # the embedded local engine
    print(run.result())                     # {'count': 12, 'mean': 42.1666..., 'offset': 6}
    print(len(pipeline.to_yaml(n=5)), "bytes of Argo YAML")
