"""Values of the user's own classes come back from a step as instances of the real class (equality, isinstance),
though they travel between steps by value, so a step never needs the user's module."""

from __future__ import annotations

import subprocess
import sys
import uuid

from helpers import run_checked

OPS = '''
from dataclasses import dataclass, field
import flowpack as fp


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class Slotted:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


@dataclass
class Shape:
    name: str
    corners: list = field(default_factory=list)
    inner: object = None


@fp.op
def make(n: int) -> Shape:
    pts = [Point(i, -i) for i in range(n)]
    return Shape("poly", pts, {"first": pts[0], "slot": Slotted(n), "nested": (Point(9, 9),)})


@fp.op
def passthrough(s):            # no annotation and no use of the classes: the value travels by value
    return s


@fp.workflow
def shapes(n: int = 3):
    return passthrough(make(n))
'''


def test_user_classes_come_back_as_the_real_classes(user_module, tmp_path):
    m = user_module(OPS)
    got = run_checked(m.shapes, tmp_path, n=3).result()
    assert type(got) is m.Shape and got.name == "poly"
    assert got.corners == [m.Point(0, 0), m.Point(1, -1), m.Point(2, -2)]  # dataclass equality needs the same class
    assert all(type(p) is m.Point for p in got.corners)
    assert type(got.inner["first"]) is m.Point and got.inner["nested"] == (m.Point(9, 9),)
    # a __slots__ class: cloudpickle 3 rebuilds it with a __dict__, a layout the real class can't take over,
    # so the value may stay a by-value copy; its data arrives either way
    assert type(got.inner["slot"]).__qualname__ == "Slotted" and got.inner["slot"].v == 3


def test_classes_of_a_script_run_as_main_come_back_too(tmp_path):
    """`python pipeline.py` defines the classes in __main__; the run's result uses them."""
    name = f"fpmain_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(OPS + '''

if __name__ == "__main__":
    got = shapes.run(run_dir=%r, n=2).result()
    print(type(got) is Shape, got.corners == [Point(0, 0), Point(1, -1)])
''' % str(tmp_path / "runs"))
    done = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
