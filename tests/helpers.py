"""Shared test helpers: Argo schema validation and Argo's own validator (through the Argo harness) for every rendered
manifest, and user modules written as real files."""

from __future__ import annotations

import functools
import importlib
import io
import itertools
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

import flowpack as fp
from argo_harness import assert_argo_accepts

DATA = Path(__file__).parent / "data"

# A workflow with a local input file (a Path parameter), which a submission to Argo must upload to a store first
# (tests/test_argo_errors, test_cli_store).
MEASURE_FILE = '''
from pathlib import Path
import flowpack as fp


@fp.op
def size(data: Path) -> int:
    return len(data.read_bytes())


@fp.workflow
def measure(data: Path) -> int:
    return size(data)
'''

# The start of a user module of ops (tests/test_fidelity, test_hooks, test_status_deps): a step that fails (exit code
# 3) and one that passes its input on; a test's OPS source goes on from here.
BOOM_ECHO_OPS = '''
import flowpack as fp


@fp.op
def boom(n: int) -> int:
    raise SystemExit(3)


@fp.op
def echo(x: int) -> int:
    return x
'''
_counter = itertools.count()


@functools.lru_cache(maxsize=1)
def argo_validator():
    """A Draft 2020-12 validator for Argo's Workflow definition, built once from tests/data/argo-schema.json."""
    import jsonschema

    s = json.loads((DATA / "argo-schema.json").read_text(encoding="utf-8"))
    schema = {"$schema": s["$schema"], "definitions": s["definitions"],
              "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow"}
    return jsonschema.Draft202012Validator(schema)


def assert_argo_valid(manifest: dict) -> None:
    """The manifest validates against Argo's schema, passes flowpack's own reference/name checks, and is accepted by
    each pinned Argo version's validator and CRDs (v4's full CRD rules), as the Argo Server and the API server apply
    them on create."""
    from flowpack._validate import check_manifest

    errors = sorted(argo_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert not errors, "manifest does not validate against Argo's schema:\n" + "\n".join(
        f"- {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10])
    assert manifest["apiVersion"] == "argoproj.io/v1alpha1"
    assert manifest["kind"] == "Workflow"
    check_manifest(manifest)
    assert_argo_accepts(manifest)


def render_checked(wf, **params) -> dict:
    """render() the workflow, validate it, and check that to_yaml/to_json parse back to exactly the same dict."""
    manifest = wf.render(**params)
    assert_argo_valid(manifest)
    assert yaml.safe_load(wf.to_yaml(**params)) == manifest
    assert json.loads(wf.to_json(**params)) == manifest
    return manifest


def run_checked(wf, tmp_path: Path, **params):
    """Run on the local engine under tmp_path/runs; the manifest it ran is validated too."""
    run = wf.run(run_dir=tmp_path / "runs", **params)
    assert_argo_valid(run.manifest)
    return run


def assert_map_option_refused(op, option: str, value: object, match: str) -> None:
    """A workflow mapping `op` over [1] with `option=value` (batch=, tolerate=) is refused when it is built, with a
    message matching `match` (which names the map, the option and the fix)."""
    @fp.workflow
    def bad():
        return op.map(x=[1], **{option: value})

    with pytest.raises(fp.WorkflowBuildError, match=match):
        bad.render()


def until(probe: Callable[[], Any], what: str = "what the test waits for", limit: float = 60.0,
          shows: Callable[[], str] | None = None, proc: subprocess.Popen | None = None, every: float = 0.1) -> Any:
    """Call `probe` every `every` seconds until it returns something true, and return that. Fail naming `what` after
    `limit` seconds (a bound on waiting, not a timing being tested), with what `shows()` gives if it is given, or as
    soon as `proc` (the process that should bring it about) has ended, with its stderr."""
    end = time.monotonic() + limit
    while True:
        value = probe()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            text = err.decode(errors="replace") if isinstance(err, bytes) else err
            raise AssertionError(f"the process ended (code {proc.returncode}) before {what}: {text}")
        if time.monotonic() > end:
            raise AssertionError(f"never saw {what}" + (f"; it shows:\n{shows()}" if shows else ""))
        time.sleep(every)


def write_module(directory: Path, source: str, name: str | None = None):
    """Write `source` as a uniquely named module in `directory` and import it, as a user's file is imported."""
    name = name or f"fpuser_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    return importlib.import_module(name)


def template(manifest: dict, name: str) -> dict:
    """The template called `name` in a manifest."""
    for t in manifest["spec"]["templates"]:
        if t["name"] == name:
            return t
    raise KeyError(f"no template {name!r}; templates: {[t['name'] for t in manifest['spec']['templates']]}")


def dag_tasks(manifest: dict) -> dict:
    """The entrypoint DAG's tasks by name."""
    entry = template(manifest, manifest["spec"]["entrypoint"])
    return {t["name"]: t for t in entry["dag"]["tasks"]}


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (an exited child nobody reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def tgz(files: dict[str, str]) -> bytes:
    """A gzipped tarball holding `files` (name -> text), built in memory: what Argo's executor recognises as one."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
