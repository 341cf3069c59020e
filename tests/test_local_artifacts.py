"""Local artifacts handed from one step to the next stay apart: a consumer writing into the file or folder it was
given changes neither the stored copy nor what a later consumer gets, and writing into the producer's step folder
after the hand-off changes neither the stored copy nor what a running consumer sees. Both hold for both ways an input
reaches a step: a copy-on-write view (overlayfs, as root: the mode these tests run in) and a plain copy
(FLOWPACK_OVERLAY=0, as on a machine without root). The hand-off itself copies nothing: the stored object is the very
file the producer wrote (moved, not copied) and a view shows the consumer that file. Pickles are still checked
against their digest before a step loads them; every record ends the run with each artifact's sha256."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest

from flowpack._digest import path_digest
from flowpack._engine import _overlay
from flowpack._store import ArtifactRef, LocalStore
from helpers import until

PIPELINE = '''
import os
import time
from pathlib import Path

import flowpack as fp


@fp.op
def produce(kind: str, side: str) -> Path:
    out = Path("out")
    if kind == "dir":
        (out / "sub").mkdir(parents=True)
        (out / "sub" / "data.txt").write_text("original")
        made = out / "sub" / "data.txt"
    else:
        out.write_text("original")
        made = out
    Path(side, "produced-inode").write_text(str(made.stat().st_ino))
    return out


def _file(data: Path) -> Path:
    return data / "sub" / "data.txt" if data.is_dir() else data


@fp.op
def scribble(data: Path, side: str) -> str:
    """Read what arrived, then try every way of changing it in place; report what was read."""
    target = _file(data)
    Path(side, "consumer-inode").write_text(str(target.stat().st_ino))
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
    return seen + "|" + target.read_text()


@fp.op
def read_after(data: Path, earlier: str, side: str) -> str:
    """Wait at a gate the test opens (after changing the producer's folder), then read what arrived."""
    Path(side, "entered").write_text("")
    while not Path(side, "open").exists():
        time.sleep(0.02)
    target = _file(data)
    extra = sorted(p.name for p in (data / "sub").iterdir()) if data.is_dir() else []
    return target.read_text() + "|" + ",".join(extra) + "|" + earlier


@fp.workflow
def handoff(kind: str, side: str):
    made = produce(kind, side)
    first = scribble(made, side)
    return read_after(made, first, side)
'''

MODES = ["view", "copy"]


@pytest.fixture(params=MODES)
def mode(request, monkeypatch) -> str:
    if request.param == "copy":
        monkeypatch.setenv("FLOWPACK_OVERLAY", "0")
    else:
        assert _overlay.available()  # the tests run as root on Linux with overlayfs: views are what they exercise
    return request.param


def _run_gated(m, tmp_path: Path, kind: str, meanwhile=lambda: None):
    """Run the pipeline; `meanwhile()` runs while read_after waits at its gate (its input already placed)."""
    side = tmp_path / "side"
    side.mkdir()
    run = m.handoff.run(run_dir=tmp_path / "runs", wait=False, kind=kind, side=str(side))
    try:
        until((side / "entered").exists, "read_after to start", 120, every=0.02)
        meanwhile()
    finally:
        (side / "open").write_text("")
    run.wait(progress=False)
    return run, side


def _produced(run) -> tuple[LocalStore, ArtifactRef]:
    store = LocalStore(run.path.parent.parent / "store")
    record = json.loads((run.path / "steps" / "produce" / "step.json").read_text())
    (ref,) = [ArtifactRef.from_dict(v) for v in record["outputs"]["artifacts"].values()]
    return store, ref


def _original_digest(tmp_path: Path, kind: str) -> str:
    model = tmp_path / "model"
    if kind == "dir":
        (model / "sub").mkdir(parents=True)
        (model / "sub" / "data.txt").write_text("original")
    else:
        model.write_text("original")
    return path_digest(model)


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_consumer_writing_into_its_input_reaches_neither_the_store_nor_a_later_consumer(user_module, tmp_path,
                                                                                          kind, mode):
    m = user_module(PIPELINE)
    run, side = _run_gated(m, tmp_path, kind)
    extra = "data.txt" if kind == "dir" else ""
    # the first consumer changed its own input (as it may on Argo) and read its change back; the second consumer
    # still saw the producer's bytes
    assert run.result() == f"original|{extra}|original|changed by the consumer and appended"
    store, ref = _produced(run)
    assert ref.sha256 == _original_digest(tmp_path, kind)  # the record ends the run with the producer's digest
    again = store.get(ref, tmp_path / "again")  # and the stored object still matches it
    target = again / "sub" / "data.txt" if kind == "dir" else again
    assert target.read_text() == "original"
    if kind == "dir":
        assert sorted(p.name for p in (again / "sub").iterdir()) == ["data.txt"]
    stored = store.path(ref.key) / "sub" / "data.txt" if kind == "dir" else store.path(ref.key)
    # nothing was copied on the way: the stored file is the one the producer wrote, and a view shows it as it is
    assert stored.stat().st_ino == int((side / "produced-inode").read_text())
    if mode == "view":
        assert stored.stat().st_ino == int((side / "consumer-inode").read_text())
    else:
        assert stored.stat().st_ino != int((side / "consumer-inode").read_text())


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_the_producer_s_folder_changed_after_the_hand_off_reaches_neither_the_store_nor_a_running_consumer(
        user_module, tmp_path, kind, mode):
    m = user_module(PIPELINE)
    changed: list[Path] = []

    def change_the_producer_s_folder() -> None:  # while read_after waits, its input in place: write everything
        steps = next((tmp_path / "runs").iterdir()) / "steps"
        for path in (steps / "produce").rglob("*"):
            if path.is_file() and not path.is_symlink() and path.name not in ("step.json", "stdout", "stderr"):
                path.chmod(0o644)
                path.write_text("changed on the producer's side")
                changed.append(path)

    run, _ = _run_gated(m, tmp_path, kind, change_the_producer_s_folder)
    assert changed  # the producer's folder still holds files (its parameters), all of which were overwritten
    assert run.result().startswith("original|")
    store, ref = _produced(run)
    assert ref.sha256 == _original_digest(tmp_path, kind)
    store.get(ref, tmp_path / "again")  # raises ArtifactIntegrityError if the stored bytes changed


def test_no_view_or_link_to_the_store_is_left_once_a_step_ended(user_module, tmp_path):
    m = user_module(PIPELINE)
    run, _ = _run_gated(m, tmp_path, "file")
    assert str(run.path) not in Path("/proc/self/mounts").read_text()
    store, ref = _produced(run)
    assert store.path(ref.key).stat().st_nlink == 1  # the views' hard links to the stored file are gone
    upper = run.path / "steps" / "scribble" / "inputs-cow"
    # what the consumer changed stays in its own folder, beside its step record
    assert [p.read_text() for p in upper.rglob("data")] == ["changed by the consumer and appended"]


SHELL = '''
import flowpack as fp

make = fp.shell('printf original > /tmp/made.txt', name="make", outputs={"made": fp.Artifact("/tmp/made.txt")})
edit = fp.shell('cat /tmp/in/data.txt > /tmp/seen.txt && printf edited >> /tmp/in/data.txt && '
                'cat /tmp/in/data.txt > /tmp/final.txt',
                name="edit", inputs={"data": fp.Artifact("/tmp/in/data.txt")},
                outputs={"seen": fp.Parameter("/tmp/seen.txt"), "final": fp.Parameter("/tmp/final.txt")})
show = fp.shell('cat /tmp/in.txt > /tmp/seen.txt', name="show", inputs={"data": fp.Artifact("/tmp/in.txt")},
                outputs={"seen": fp.Parameter("/tmp/seen.txt")})


@fp.workflow
def shells():
    made = make()
    first = edit(data=made.made)
    return {"first": first.seen, "final": first.final, "second": show(data=made.made).after(first).seen}
'''


def test_a_shell_step_in_its_own_mount_namespace_gets_its_input_as_a_view_it_may_change(user_module, tmp_path,
                                                                                        mode):
    m = user_module(SHELL)
    run = m.shells.run(run_dir=tmp_path / "runs")
    assert run.result() == {"first": "original", "final": "originaledited", "second": "original"}
    changed = [p.read_text() for p in (run.path / "steps" / "edit").glob("inputs-cow/*/upper/data.txt")]
    assert changed == (["originaledited"] if mode == "view" else [])  # a view's change stays in its upper folder


PICKLES = '''
import time
from pathlib import Path

import flowpack as fp


@fp.op
def make() -> "object":
    return {"n": 1}


@fp.op
def gate(side: str) -> None:
    Path(side, "entered").write_text("")
    while not Path(side, "open").exists():
        time.sleep(0.02)


@fp.op
def use(value: "object") -> str:
    return repr(value)


@fp.workflow
def pickled(side: str):
    value = make()
    return use(value).after(gate(side).after(value))
'''


class _Boom:
    """Unpickling it creates a file: the proof that a changed pickle would run code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_changed_in_the_store_after_its_step_is_not_loaded_by_the_next(user_module, tmp_path, mode):
    m = user_module(PICKLES)
    side = tmp_path / "side"
    side.mkdir()
    proof = tmp_path / "code-ran"
    run = m.pickled.run(run_dir=tmp_path / "runs", wait=False, side=str(side))
    try:
        until((side / "entered").exists, "the gate step to start", 120, every=0.02)
        make = json.loads((run.path / "steps" / "make" / "step.json").read_text())
        ref = ArtifactRef.from_dict(make["outputs"]["artifacts"]["return"])
        stored = LocalStore(tmp_path / "store").path(ref.key)
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == ref.sha256  # the digest make reported
        stored.write_bytes(pickle.dumps(_Boom(str(proof))))
    finally:
        (side / "open").write_text("")
    with pytest.raises(Exception, match="hash to"):
        run.wait(progress=False)
    assert not proof.exists()
    assert run.steps["use"]["phase"] == "Error"


RESUMED = '''
from pathlib import Path

import flowpack as fp


@fp.op
def produce(side: str) -> Path:
    with open(Path(side, "log"), "a") as log:
        log.write("produce\\n")
    Path("out").write_text("original")
    return Path("out")


@fp.op
def check(data: Path, side: str) -> str:
    if not Path(side, "pass").exists():
        raise RuntimeError("not yet")
    return data.read_text()


@fp.workflow
def resumable(side: str):
    return check(produce(side), side)
'''


@pytest.mark.parametrize("tampered", [False, True])
def test_a_resumed_run_gets_an_earlier_run_s_output_checked_against_its_digest(user_module, tmp_path, tampered):
    m = user_module(RESUMED)
    side = tmp_path / "side"
    side.mkdir()
    with pytest.raises(Exception, match="not yet"):
        m.resumable.run(run_dir=tmp_path / "runs", side=str(side))
    (first,) = (tmp_path / "runs").iterdir()
    ref = ArtifactRef.from_dict(json.loads((first / "steps" / "produce" / "step.json").read_text())
                                ["outputs"]["artifacts"]["return"])
    assert ref.sha256 == hashlib.sha256(b"original").hexdigest()  # settled when the failed run ended
    (side / "pass").write_text("")
    if tampered:  # the store folder changed between the runs: the earlier output is not handed on
        LocalStore(tmp_path / "store").path(ref.key).write_text("changed between runs")
        with pytest.raises(Exception, match="hash to"):
            m.resumable.run(run_dir=tmp_path / "runs", resume=first.name, side=str(side))
    else:
        assert m.resumable.run(run_dir=tmp_path / "runs", resume=first.name, side=str(side)).result() == "original"
    assert (side / "log").read_text() == "produce\n"  # the producer ran once: the resumed run reused its output


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_store_on_another_filesystem_gets_copies_and_still_keeps_them_apart(user_module, tmp_path, kind):
    """No rename or hard link crosses filesystems: the output is copied into the store, a file input can't be linked
    under a view (it is copied), a folder input is still viewed (a lower layer may live anywhere)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or _fs_id(shm) == _fs_id(tmp_path):
        pytest.skip("needs a second filesystem at /dev/shm (a tmpfs on Linux)")
    m = user_module(PIPELINE)
    side = tmp_path / "side"
    side.mkdir()
    store = LocalStore(Path(tempfile.mkdtemp(prefix="fp-store-", dir=shm)))
    try:
        run = m.handoff.run(run_dir=tmp_path / "runs", store=store, kind=kind, side=str(side), wait=False)
        until((side / "entered").exists, "read_after to start", 120, every=0.02)
        (side / "open").write_text("")
        extra = "data.txt" if kind == "dir" else ""
        assert run.result() == f"original|{extra}|original|changed by the consumer and appended"
        record = json.loads((run.path / "steps" / "produce" / "step.json").read_text())
        ref = ArtifactRef.from_dict(record["outputs"]["artifacts"]["return"])
        assert ref.sha256 == _original_digest(tmp_path, kind)
        store.get(ref, tmp_path / "again")
        stored = store.path(ref.key) / "sub" / "data.txt" if kind == "dir" else store.path(ref.key)
        assert stored.stat().st_ino != int((side / "produced-inode").read_text())  # copied across
    finally:
        shutil.rmtree(store.root, ignore_errors=True)


def _fs_id(path: Path) -> int:
    return path.stat().st_dev
