"""Differential suite (a start): each example workflow runs on the embedded local engine and on Argo's own controller
(the Argo harness, from the same rendered manifest); the workflow's phase and every step's phase and exit code must
match. A difference is a flowpack bug (the manifest or the local engine departs from Argo), never the harness's."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from argo_harness import run as run_on_argo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CASES = [
    ("quickstart", "pipeline", {"n": 5}),
    ("hello_shell", "hello_world", {"msg": "Hello, world", "number": 42}),
    ("hello_shell", "two_at_once", {}),
]


def example_workflow(module: str, name: str):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("module", "name", "params"), CASES, ids=[f"{m}:{n}" for m, n, _ in CASES])
def test_example_runs_the_same_locally_and_on_argos_controller(tmp_path, module, name, params):
    wf = example_workflow(module, name)
    local = wf.run(run_dir=tmp_path / "runs", **params)
    argo = run_on_argo(wf.render(**params), tmp_path / "store")
    assert argo.phase == local.phase, (argo.message, local.record.get("message"))
    on_argo = {n.display_name: (n.phase, int(n.exit_code) if n.exit_code is not None else None) for n in argo.pods}
    here = {s["name"]: (s["phase"], s.get("exitCode")) for s in local.steps.values()}
    assert on_argo == here
