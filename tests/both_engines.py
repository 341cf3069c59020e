"""The local engine beside Argo's own controller (the harness), for the tests that hold one to the other: one workflow
run on both (`run_both`), and what the two must agree on at the end (`assert_same_end`): the workflow's phase, every
step's phase and the workflow's output parameters. Argo is the referee: a difference is a flowpack bug."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import flowpack as fp
from argo_harness import DEFAULT_VERSION, HarnessNode, HarnessRun
from argo_harness import run as run_on_argo
from flowpack._results import decode_parameter, output_kind, rebuild
from helpers import render_checked


class View(NamedTuple):
    """One run as both engines must end it: the workflow's phase, each step's phase by name, the workflow's output
    parameters by name."""

    phase: str
    steps: dict[str, str]
    outputs: dict[str, str | None]


def local_view(run: fp.Run) -> View:
    """A local run's view: each step by its name (a loop item's as `name(i)`)."""
    return View(run.phase, {s["name"]: s["phase"] for s in run.steps.values()},
                dict((run.record.get("outputs") or {}).get("parameters") or {}))


def _argo_step_name(node: HarnessNode) -> str:
    """A node's step name as the local engine writes it: a loop item `name(i:value)` as `name(i)`."""
    return re.sub(r"\((\d+):.*\)$", r"(\1)", node.display_name)


def argo_view(result: HarnessRun) -> View:
    """The local view of an Argo run: a retried step is its Retry node (its attempts are argo_attempts)."""
    attempts = {c for n in result.nodes if n.type == "Retry" for c in n.children}
    steps = {_argo_step_name(n): n.phase for n in result.nodes
             if n.type in ("Pod", "Skipped", "Suspend", "Retry") and n.id not in attempts}
    root = next(n for n in result.nodes if n.type == "DAG" and not n.boundary_id)
    return View(result.phase, steps, root.parameters)


def local_attempts(run: fp.Run) -> dict[str, int]:
    """Steps that took more than one attempt, and how many."""
    return {s["name"]: s["attempts"] for s in run.steps.values() if s.get("attempts", 1) > 1}


def argo_attempts(result: HarnessRun) -> dict[str, int]:
    """Retried steps that took more than one attempt (pods), and how many."""
    counts = {_argo_step_name(n): len(n.children) for n in result.nodes if n.type == "Retry"}
    return {name: count for name, count in counts.items() if count > 1}


def argo_result(local: fp.Run, argo: HarnessRun) -> Any:
    """Argo's workflow outputs decoded and rebuilt exactly as local.result() does with the local ones."""
    shape = local.shape
    values = argo_view(argo).outputs  # the root DAG node's output parameters, as Argo's controller set them

    def read(name: str) -> Any:
        value = values[name]
        assert value is not None, f"Argo's controller set no value for the output {name!r}"
        return decode_parameter(shape, name, value, output_kind(shape, name, "argo"))

    return rebuild(shape, read, local.result_type)


@dataclass(frozen=True)
class Views:
    """How the two runs are seen for the comparison: the same View of each."""

    local: Callable[[fp.Run], View]
    argo: Callable[[HarnessRun], View]


BY_STEP_NAME = Views(local_view, argo_view)


def assert_same_end(local: fp.Run, argo: HarnessRun, *, version: str | None = None,
                    views: Views = BY_STEP_NAME, note: str = "") -> None:
    """The local run ended as Argo's controller (of `version`) did; the failure message holds `note` (what the
    reader needs to reproduce it, such as a generated workflow's source) and Argo's node messages."""
    messages = {n.display_name: n.message for n in argo.nodes if n.message}
    assert views.local(local) == views.argo(argo), \
        f"{note}\nArgo {version or DEFAULT_VERSION}: {argo.phase} {argo.message} {messages}".lstrip("\n")


@dataclass(frozen=True)
class Both:
    """One workflow's run on each engine, and the folder that stood for Argo's S3 store."""

    local: fp.Run
    argo: HarnessRun
    store: Path


def run_both(wf: fp.Workflow, params: Mapping[str, Any], tmp_path: Path, *, version: str | None = None,
             manifest: Mapping[str, Any] | None = None, uploads: Mapping[str, Path] | None = None,
             views: Views = BY_STEP_NAME, note: str = "") -> Both:
    """`wf` with `params` on Argo's controller of `version` (default: the default pin), then on the local engine,
    which must end the same way (assert_same_end, its failure message led by `note`). Argo runs
    render_checked(wf, **params) unless `manifest` is given (a built workflow's, or one rendered with other values);
    `uploads` (key -> local file) are put in Argo's store under their keys first, as submit uploads them. A local run
    that fails is kept (its RunError caught): the comparison covers failures too."""
    store = tmp_path / "argo-store"  # apart from the local engine's (tmp_path / "store", beside its run_dir)
    for key, path in (uploads or {}).items():
        (store / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, store / key)
    argo = run_on_argo(render_checked(wf, **params) if manifest is None else manifest, store, timeout=180,
                       version=version)
    try:
        local = wf.run(run_dir=tmp_path / "runs", **params)
    except fp.RunError as exc:
        local = exc.run
    assert_same_end(local, argo, version=version, views=views, note=note)
    return Both(local, argo, store)
