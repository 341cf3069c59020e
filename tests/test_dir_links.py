"""A directory artifact holding a link that leads out of it (absolute, or up with '..') is refused where it is made,
naming the op, the output and the link; links to the directory's own files travel as links."""

from __future__ import annotations

import pytest

import flowpack as fp
from flowpack._errors import StoreError
from flowpack._store import LocalStore
from helpers import run_checked

OPS = '''
import os
from pathlib import Path
import flowpack as fp


@fp.op
def make(kind: str) -> Path:
    out = Path("out")
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "data.txt").write_text("data")
    if kind == "absolute":
        os.symlink("/etc/hostname", out / "host")
    elif kind == "up":
        os.symlink("../../outside.txt", out / "sub" / "up")
    else:
        os.symlink("sub/data.txt", out / "alias")
    return out


@fp.op
def read(d: Path) -> str:
    return (d / "alias").read_text() + str((d / "alias").is_symlink())


@fp.workflow
def pipeline(kind: str = "relative"):
    return read(make(kind))


shell_make = fp.shell("mkdir -p /tmp/d && ln -s /etc/hostname /tmp/d/host", name="shell-make",
                      outputs={"d": fp.Artifact("/tmp/d")})


@fp.workflow
def shell_pipeline():
    return shell_make().d
'''


@pytest.mark.parametrize("kind, link", [("absolute", "'host' -> '/etc/hostname'"),
                                        ("up", "'sub/up' -> '../../outside.txt'")])
def test_a_python_op_returning_a_folder_with_a_link_out_of_it_fails_naming_op_output_and_link(
        user_module, tmp_path, kind, link):
    m = user_module(OPS)
    with pytest.raises(fp.StepFailed) as info:
        m.pipeline.run(run_dir=tmp_path / "runs", kind=kind).result()
    message = str(info.value)
    assert "op 'make'" in message and "output 'return'" in message and link in message
    assert ".part" not in message and ".flowpack-" not in message


def test_links_to_the_folders_own_files_travel(user_module, tmp_path):
    m = user_module(OPS)
    assert run_checked(m.pipeline, tmp_path).result() == "dataTrue"


def test_a_shell_step_folder_with_an_absolute_link_is_an_error_naming_the_link(user_module, tmp_path):
    m = user_module(OPS)
    with pytest.raises(fp.RunError) as info:
        m.shell_pipeline.run(run_dir=tmp_path / "runs").result()
    message = str(info.value)
    assert "shell-make" in message and "/tmp/d" in message and "'host' -> '/etc/hostname'" in message
    assert ".part" not in message


def test_the_store_refuses_such_a_folder_and_names_the_link(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "ok").write_text("x")
    (folder / "rel").symlink_to("ok")
    store = LocalStore(tmp_path / "store")
    assert store.put(folder, "a/ok").kind == "dir"
    (folder / "abs").symlink_to(tmp_path / "d" / "ok")
    with pytest.raises(StoreError, match="'abs' ->"):
        store.put(folder, "a/bad")
