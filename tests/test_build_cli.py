"""`flowpack build FILE.py[:NAME] [--push REGISTRY]` and `flowpack build MANIFEST.json` against the real daemon and
registry (nothing mocked)."""

from __future__ import annotations

import json
import sys
import textwrap
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_docker import docker_client, local_registry  # noqa: E402,F401  (pytest fixtures)
from flowpack._cli_images import main  # noqa: E402

BASE = "python:3.11-slim"

FILE = '''
import flowpack as fp


@fp.op(packages=["six"])
def six_version() -> str:
    import importlib.metadata
    return importlib.metadata.version("six")


@fp.op
def plain(x: str) -> str:
    return x + "!"


@fp.workflow
def first():
    return plain(six_version())


@fp.workflow
def second(x: str = "a"):
    return plain(x)

not_a_workflow = 3
'''

BROKEN = '''
import flowpack as fp


@fp.op(packages=["flowpack-test-no-such-distribution==0.0.1"])
def needs_missing() -> int:
    return 1


@fp.workflow
def broken():
    return needs_missing()
'''


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"wf_{abs(hash(text)) % 10**8}_{tmp_path.name[-12:].replace('-', '_')}.py"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(["build", *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _rows(out: str) -> dict:
    return {(wf, tpl): tag for wf, tpl, tag in (line.split("\t") for line in out.splitlines())}


def test_build_one_workflow_prints_tags(tmp_path, capsys, docker_client):
    code, out, err = _cli(capsys, f"{_write(tmp_path, FILE)}:first")
    assert code == 0, err
    rows = _rows(out)
    assert set(rows) == {("first", "six-version"), ("first", "plain")}
    assert rows[("first", "plain")] == BASE
    assert rows[("first", "six-version")].startswith("flowpack/step:")
    assert docker_client.images.get(rows[("first", "six-version")])
    assert "image" in err  # progress on stderr


def test_build_every_workflow_of_a_file(tmp_path, capsys, docker_client):
    code, out, err = _cli(capsys, str(_write(tmp_path, FILE)))
    assert code == 0, err
    rows = _rows(out)
    assert {wf for wf, _ in rows} == {"first", "second"}
    assert rows[("second", "plain")] == BASE


def test_push_to_a_registry(tmp_path, capsys, docker_client, local_registry):
    code, out, err = _cli(capsys, f"{_write(tmp_path, FILE)}:first", "--push", local_registry)
    assert code == 0, err
    tag = _rows(out)[("first", "six-version")]
    assert tag.startswith(f"{local_registry}/flowpack/step:")
    repo, _, ref = tag[len(local_registry) + 1:].rpartition(":")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://{local_registry}/v2/{repo}/manifests/{ref}", method="HEAD",
                                 headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with opener.open(req, timeout=5) as resp:
        assert resp.status == 200
    assert "pushing" in err


def test_failed_build_names_the_failing_step(tmp_path, capsys, docker_client):
    code, out, err = _cli(capsys, f"{_write(tmp_path, BROKEN)}:broken")
    assert code == 1 and out == ""
    assert "workflow broken" in err and "failed at Step" in err
    assert "pip" in err and "install" in err and "flowpack-test-no-such-distribution" in err


def test_target_that_is_not_a_workflow(tmp_path, capsys):
    code, _, err = _cli(capsys, f"{_write(tmp_path, FILE)}:not_a_workflow")
    assert code == 2 and "not a workflow" in err and "Traceback" not in err


def test_push_to_an_unreachable_registry_fails_cleanly(tmp_path, capsys, docker_client):
    code, out, err = _cli(capsys, f"{_write(tmp_path, FILE)}:first", "--push", "127.0.0.1:1")
    assert code == 1
    assert "push of 127.0.0.1:1/flowpack/step:" in err


def test_build_a_rendered_manifest_from_the_facts_it_carries(tmp_path, capsys, docker_client):
    """`flowpack build MANIFEST.json`: the images of a manifest alone (its flowpack.io/images annotation), the same
    as the workflow's; `-o` writes the manifest naming them, and building that one again keeps them."""
    from flowpack._cli import main as flowpack_main

    source = _write(tmp_path, FILE)
    rendered, built = tmp_path / "first.json", tmp_path / "first-built.json"
    assert flowpack_main(["render", f"{source}:first", "--format", "json", "-o", str(rendered)]) == 0
    code, out, err = _cli(capsys, f"{source}:first")
    assert code == 0, err
    code, from_manifest, err = _cli(capsys, str(rendered), "-o", str(built))
    assert code == 0, err
    assert _rows(from_manifest) == _rows(out)  # same workflow name, templates and tags
    images = {t["name"]: t["script"]["image"] for t in json.loads(built.read_text())["spec"]["templates"]
              if "script" in t}
    assert images == {tpl: tag for (_, tpl), tag in _rows(out).items()}
    code, again, err = _cli(capsys, str(built))  # images flowpack built are kept as they are, not built upon
    assert code == 0 and _rows(again) == _rows(out), err


def test_a_file_that_is_no_manifest_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    code, _, err = _cli(capsys, str(bad))
    assert code == 2 and "no Argo Workflow manifest" in err and "flowpack render" in err
    code, _, err = _cli(capsys, f"{_write(tmp_path, FILE)}:first", "-o", str(tmp_path / "out.json"))
    assert code == 2 and "MANIFEST.json" in err
