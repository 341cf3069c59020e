"""ArgoRun: a handle on one workflow on an Argo Server (status, wait, logs, outputs, and stop/retry/...)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .._errors import RunError
from .._logs import LogLine
from .._phase import Phase
from .._results import decode_parameter, shape_of
from .._runbase import Display, Outcome, RunBase, Snapshot
from .._types import PARAM, PATH, Kind
from . import _status
from ._client import ArgoClient
from ._errors import ArgoArtifactError, ArgoNotFoundError, ArgoTimeoutError
from ._fetch import fetch_path, fetch_pickle
from ._record import record_submitted


class ArgoRun(RunBase):
    """A workflow on the Argo Server. Fresh state on every call: `status()`, `phase`, `steps` each do one GET."""

    def __init__(self, client: ArgoClient, name: str, *, namespace: str | None = None, store=None,
                 workflow: dict | None = None, download_dir: str | Path | None = None,
                 result_type: type | None = None):
        self.result_type = result_type  # the NamedTuple result() rebuilds, known when this process submitted it
        self.client = client
        self.name = name
        self.namespace = namespace or client.namespace
        self.store = store
        self._wf = workflow
        self.download_dir = Path(download_dir) if download_dir else Path(".flowpack/argo") / self.namespace / name
        self._cache: dict[str, object] = {}

    def __repr__(self) -> str:
        ph = _status.phase(self._wf) if self._wf else "?"
        return f"<flowpack argo run {self.namespace}/{self.name} {ph}>"

    def _repr_html_(self) -> str:
        """In a notebook: phase, a link to the Argo UI, the DAG coloured by phase and a table of steps."""
        from .._view import run_html  # lazy: the views sit above runs: a run draws itself with them when shown

        return run_html(self)

    # -- state -----------------------------------------------------------------------------------
    def refresh(self) -> dict:
        """GET the workflow object (and remember it)."""
        self._wf = self.client.get(self.name, namespace=self.namespace)
        return self._wf

    @property
    def workflow(self) -> dict:
        """The last workflow object fetched (fetches once if none yet)."""
        return self._wf if self._wf is not None else self.refresh()

    @property
    def phase(self) -> str:
        return _status.phase(self.refresh())

    @property
    def steps(self) -> dict[str, dict]:
        """step path -> {name, template, phase, type, startedAt, finishedAt, message, id, pod, exitCode}."""
        return {key: _status.step_json(step) for key, step in _status.steps(self.refresh()).items()}

    def status(self) -> dict:
        """{name, namespace, phase, message, startedAt, finishedAt, progress, stopped, steps: {step: {phase, ...}}}."""
        return _status.summary(self.refresh())

    def done(self) -> bool:
        return _status.is_done(self.refresh())

    # -- waiting (RunBase.wait: the loop, the display and its messages) ----------------------------------------
    poll_interval = 2.0

    @property
    def run_name(self) -> str:
        return self.name

    @property
    def _stop_hint(self) -> str:
        return f", or stop it with .stop() / `flowpack stop {self.name}`"

    def _look(self) -> Snapshot:
        wf = self.refresh()
        return Snapshot(Phase(_status.phase(wf)), _status.steps(wf), _status.is_done(wf))

    def _progress_bar(self, first: Snapshot) -> Display | None:
        # lazy: the views sit above runs: a run draws itself with them when shown
        from .._view import ProgressBar  # the one progress display of runs (also flowpack run's and Run.wait's)

        return ProgressBar(manifest=self.workflow, label=self.name)

    def _waited(self) -> None:
        pass  # a failed workflow is not raised here: call result() or check()

    def _timeout(self, message: str) -> TimeoutError:
        return ArgoTimeoutError(message)

    # -- logs ------------------------------------------------------------------------------------
    def logs(self, step: str | None = None, *, follow: bool = False, container: str = "main",
             grep: str | None = None) -> Iterator[LogLine]:
        """The container logs of one step (by step path or display name) or of all steps, from Argo's log stream;
        each line with the time Kubernetes received it (`LogLine.time`)."""
        wf = self.workflow if not follow and self._wf is not None and _status.is_done(self._wf) else self.refresh()
        pods = {s.pod: key for key, s in _status.steps(wf).items() if s.pod}
        pod = None
        if step is not None:
            pod = _find_pod(wf, step)
        for entry in self.client.log_stream(self.name, namespace=self.namespace, pod=pod, container=container,
                                            follow=follow, grep=grep):
            pod_name = entry.get("podName", "")
            if pod_name not in pods:  # a step that started after the stream opened
                pods.update({s.pod: k for k, s in _status.steps(self.refresh()).items() if s.pod})
            yield LogLine(pods.get(pod_name, pod_name), pod_name, entry.get("content", ""), entry.get("time"))

    # -- what RunBase reads (check, outputs, output, result) --------------------------------------
    @property
    def label(self) -> str:
        return f"workflow {self.namespace}/{self.name}"

    def outcome(self) -> Outcome:
        wf = self.workflow if self._wf is not None and _status.is_done(self._wf) else self.refresh()
        record = _status.run_record(wf)
        if record.phase != Phase.SUCCEEDED and not _status.is_done(wf):
            raise RunError(f"{self.label} is still {record.phase}: call wait() first", [], self)
        fails = record.failures()
        stopped = _status.was_stopped(wf)
        hints = [f"  logs: flowpack logs {self.name} --step {next(iter(fails))}"] if fails else []
        return Outcome(record.phase, fails, record.message, f" (stopped: {stopped})" if stopped else "", hints)

    def _ready(self) -> None:
        self.check()  # waits for nothing: call wait() first

    @property
    def shape(self) -> dict:
        return shape_of(self.workflow)

    def _read_output(self, name: str, kind: Kind) -> object:
        """One named workflow output; artifacts come from the artifact repository through `store`."""
        wf = self.workflow if self._wf is not None and _status.is_done(self._wf) else self.refresh()
        outs = _status.root_outputs(wf)
        if kind.how == PARAM:
            if name not in outs["parameters"]:
                raise ArgoArtifactError(f"workflow {self.name}: output parameter {name!r} is not in the workflow "
                                        f"status (phase {_status.phase(wf)})")
            value = decode_parameter(self.shape, name, outs["parameters"][name], kind)
        else:
            art = outs["artifacts"].get(name)
            if art is None:
                raise ArgoArtifactError(f"workflow {self.name}: output artifact {name!r} is not in the workflow "
                                        f"status (phase {_status.phase(wf)})")
            if self.store is None:
                raise ArgoArtifactError(
                    f"workflow {self.name}: output {name!r} is an artifact in the artifact repository; pass "
                    f"store=fp.S3(endpoint, bucket) for that bucket to submit() or get() to read it "
                    f"(on the command line: --store s3://BUCKET/PREFIX)"
                )
            if kind.how == PATH:
                value = fetch_path(self.store, art, self.download_dir / "outputs" / name)
            else:
                value = fetch_pickle(self.store, art, wf)
        return value

    # -- actions ---------------------------------------------------------------------------------
    def stop(self, message: str | None = None) -> "ArgoRun":
        """Stop: running steps are stopped, exit handlers still run; the workflow ends Failed."""
        self._wf = self.client.action(self.name, "stop", namespace=self.namespace, message=message)
        return self

    def terminate(self) -> "ArgoRun":
        """Terminate immediately, without exit handlers; the workflow ends Failed."""
        self._wf = self.client.action(self.name, "terminate", namespace=self.namespace)
        return self

    def retry(self, *, restart_successful: bool = False, node_field_selector: str | None = None,
              parameters: dict | None = None) -> "ArgoRun":
        """Retry a failed workflow in place (same name): failed steps run again, succeeded ones are kept."""
        self._wf = self.client.action(
            self.name, "retry", namespace=self.namespace, restartSuccessful=restart_successful or None,
            nodeFieldSelector=node_field_selector, parameters=_param_list(parameters))
        self._cache.clear()
        return self

    def resubmit(self, *, memoized: bool = False, parameters: dict | None = None) -> "ArgoRun":
        """Submit the same workflow again as a new workflow; returns the new handle."""
        wf = self.client.action(self.name, "resubmit", namespace=self.namespace, memoized=memoized or None,
                                parameters=_param_list(parameters))

        record_submitted(self.client, wf)
        return ArgoRun(self.client, wf["metadata"]["name"], namespace=self.namespace, store=self.store, workflow=wf,
                       result_type=self.result_type)

    def delete(self) -> None:
        """Delete the workflow object (its pods go with it; artifacts stay in the repository)."""
        self.client.delete(self.name, namespace=self.namespace)


def _param_list(parameters: dict | None) -> list[str] | None:
    """{'n': 5} -> ['n=5'] (Argo's NAME=VALUE strings; non-strings as JSON, as flowpack encodes them)."""
    if not parameters:
        return None
    return [f"{k}={v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))}" for k, v in parameters.items()]


def _find_pod(wf: dict, step: str) -> str:
    found = _status.steps(wf)
    here = found[step].pod if step in found else None
    if here:
        return here
    matches = [s.pod for k, s in found.items() if s.pod and (s.name == step or k.endswith("/" + step))]
    if len(matches) == 1:
        return matches[0]
    pods = sorted(k for k, s in found.items() if s.pod)
    if not matches:
        raise ArgoNotFoundError(f"workflow {(wf.get('metadata') or {}).get('name')}: no step {step!r} with a pod "
                                f"(yet); steps: {pods}")
    raise ArgoNotFoundError(f"step {step!r} matches several steps; use the full path, one of {pods}")
