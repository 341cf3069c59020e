"""Local artifacts handed from one step to the next stay apart: a consumer writing into the file or folder it was
given changes neither the stored copy nor what a later consumer gets, and writing into the producer's step folder
after the hand-off changes neither the stored copy nor the consumer's. (Issue 18 asks for the hand-off without
copies; whatever the mechanism, these hold.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowpack._store import ArtifactRef, LocalStore
from helpers import run_checked

PIPELINE = '''
import os
from pathlib import Path

import flowpack as fp


@fp.op
def produce(kind: str) -> Path:
    out = Path("out")
    if kind == "dir":
        (out / "sub").mkdir(parents=True)
        (out / "sub" / "data.txt").write_text("original")
    else:
        out.write_text("original")
    return out


def _file(data: Path) -> Path:
    return data / "sub" / "data.txt" if data.is_dir() else data


@fp.op
def scribble(data: Path) -> str:
    """Read what arrived, then try every way of changing it in place; report what was read."""
    target = _file(data)
    seen = target.read_text()
    for attempt in (lambda: os.chmod(target, 0o644), lambda: target.write_text("changed by the consumer"),
                    lambda: open(target, "ab").write(b" and appended")):
        try:
            attempt()
        except OSError:
            pass
    if data.is_dir():
        try:
            (data / "sub" / "new.txt").write_text("added by the consumer")
        except OSError:
            pass
    return seen


@fp.op
def read_after(data: Path, earlier: str) -> str:
    target = _file(data)
    extra = sorted(p.name for p in (data / "sub").iterdir()) if data.is_dir() else []
    return target.read_text() + "|" + ",".join(extra) + "|" + earlier


@fp.workflow
def handoff(kind: str):
    made = produce(kind)
    first = scribble(made)
    return read_after(made, first)
'''


def _stored(run_dir: Path, run) -> tuple[LocalStore, ArtifactRef]:
    store = LocalStore(run_dir.parent / "store")
    record = json.loads((run_dir / run.id / "steps" / "produce" / "step.json").read_text())
    (ref,) = [ArtifactRef.from_dict(v) for v in record["outputs"]["artifacts"].values()]
    return store, ref


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_consumer_writing_into_its_input_reaches_neither_the_store_nor_a_later_consumer(user_module, tmp_path,
                                                                                          kind):
    m = user_module(PIPELINE)
    run = run_checked(m.handoff, tmp_path, kind=kind)
    extra = "data.txt" if kind == "dir" else ""
    assert run.result() == f"original|{extra}|original"  # the second consumer saw the producer's bytes
    store, ref = _stored(tmp_path / "runs", run)
    again = tmp_path / "again"
    store.get(ref, again)  # verifies the stored bytes against the producer's digest
    target = again / "sub" / "data.txt" if kind == "dir" else again
    assert target.read_text() == "original"
    if kind == "dir":
        assert sorted(p.name for p in (again / "sub").iterdir()) == ["data.txt"]


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_the_producer_s_folder_changed_after_the_hand_off_reaches_neither_the_store_nor_the_consumer(
        user_module, tmp_path, kind):
    m = user_module(PIPELINE)
    run = run_checked(m.handoff, tmp_path, kind=kind)
    steps = tmp_path / "runs" / run.id / "steps"
    produced = [p for p in (steps / "produce" / "root").rglob("*") if p.is_file()]
    consumed = [p for p in (steps / "read-after" / "root").rglob("*")
                if p.is_file() and "inputs" in p.parts and "data" in p.parts]
    assert produced and consumed
    for path in produced:  # the producer's side, after the hand-off: write, whatever its permissions
        path.chmod(0o644)
        path.write_text("changed on the producer's side")
    for path in consumed:
        assert path.read_text() == "original", path
    store, ref = _stored(tmp_path / "runs", run)
    store.get(ref, tmp_path / "again")  # raises ArtifactIntegrityError if the stored bytes changed
