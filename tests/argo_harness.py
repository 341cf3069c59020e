"""Argo's own code as the tests' referee: a typed Python face for the Go harness in conformance/.

`validate(...)` sends manifests through Argo's validator (and the full CRDs' schema, with v4's CEL rules) in one
long-lived `argo-harness validate --serve` process; `run(...)` executes a Workflow with Argo's own controller
over fake Kubernetes clients, every pod running for real on this machine. The binaries are built by
`make argo-harness` when missing or stale; a build that fails raises HarnessBuildError (a test error, never a skip).

One harness is built per pinned Argo version (VERSIONS: conformance/go.mod's first, the default, then one per
conformance/go.VERSION.mod); `version=` picks one, `Harness(version)` binds one, and `assert_argo_accepts` asks
every version.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import json
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "build" / "argo-harness"
_BUILD_LOCK = ROOT / "build" / ".argo-harness.lock"
_CONFORMANCE = ROOT / "conformance"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def _pinned_versions() -> tuple[str, ...]:
    """The Argo versions the harness is built for, newest pin first after the default: conformance/go.mod's
    (build/argo-harness), then one per conformance/go.VERSION.mod (build/argo-harness-VERSION)."""
    found = re.search(r"^\s*github\.com/argoproj/argo-workflows/v\d+ (v[\d.]+)\s*$",
                      (_CONFORMANCE / "go.mod").read_text(encoding="utf-8"), re.M)
    if found is None:
        raise HarnessBuildError("conformance/go.mod requires no Argo module")
    others = (p.name[len("go."):-len(".mod")] for p in _CONFORMANCE.glob("go.v*.mod"))
    return (found.group(1), *sorted(others, key=_version_key, reverse=True))


class HarnessBuildError(RuntimeError):
    """`make argo-harness` failed; the message holds the end of its output."""


class HarnessError(RuntimeError):
    """The harness could not do what was asked (bad manifest file, internal error); not a verdict of Argo's."""


VERSIONS: tuple[str, ...] = _pinned_versions()
DEFAULT_VERSION = VERSIONS[0]


def _checked_version(version: str | None) -> str:
    if version is None:
        return DEFAULT_VERSION
    if version not in VERSIONS:
        raise HarnessError(f"no harness is pinned for Argo {version!r}; pinned: {', '.join(VERSIONS)}")
    return version


@functools.lru_cache(maxsize=1)
def _built() -> None:
    """`make argo-harness` (every version) once per test process, under a file lock, so parallel test workers build
    once."""
    _BUILD_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(_BUILD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(["make", "--no-print-directory", "argo-harness"], cwd=ROOT,
                              capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise HarnessBuildError(f"`make argo-harness` failed (exit {done.returncode}):\n{tail}")


def harness_binary(version: str | None = None) -> Path:
    """The harness for this Argo version (default: DEFAULT_VERSION, build/argo-harness), brought up to date by
    `make argo-harness`."""
    version = _checked_version(version)
    _built()
    binary = BINARY if version == DEFAULT_VERSION else BINARY.with_name(f"argo-harness-{version}")
    if not binary.exists():
        raise HarnessBuildError(f"`make argo-harness` left no {binary.relative_to(ROOT)}")
    return binary


@dataclass(frozen=True)
class Validation:
    """Argo's verdict on one manifest: ok, or the stage that refused it ("argo" = Argo's validator,
    "crd" = the API server's schema/CEL rules, "parse") and Argo's own message."""

    source: str
    kind: str
    name: str
    ok: bool
    stage: str
    message: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Validation":
        return cls(source=d.get("source", ""), kind=d.get("kind", ""), name=d.get("name", ""),
                   ok=bool(d.get("ok")), stage=d.get("stage", ""), message=d.get("message", ""))


class _Validator:
    """One `validate --serve` process, spoken to one JSON line at a time."""

    def __init__(self, version: str) -> None:
        self._version = version
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def _process(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([str(harness_binary(self._version)), "validate", "--serve"],
                                          stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          encoding="utf-8")
        return self._proc

    def validate(self, manifests: list[Mapping[str, Any]]) -> list[Validation]:
        line = json.dumps(list(manifests), ensure_ascii=True) + "\n"
        with self._lock:
            proc = self._process()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(line)
            proc.stdin.flush()
            reply = proc.stdout.readline()
        if not reply:
            err = proc.stderr.read() if proc.stderr else ""
            raise HarnessError(f"argo-harness {self._version} validate --serve ended: {err[-2000:]}")
        return [Validation.from_json(r) for r in json.loads(reply)["results"]]

    def close(self) -> None:
        """End the serving process (its stdin closes, it exits)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            for stream in (self._proc.stdout, self._proc.stderr) if self._proc is not None else ():
                if stream is not None:
                    stream.close()


_validators = {version: _Validator(version) for version in VERSIONS}
for _v in _validators.values():
    atexit.register(_v.close)


def validate(manifests: Mapping[str, Any] | Iterable[Mapping[str, Any]], *,
             version: str | None = None) -> list[Validation]:
    """Argo's verdict on each manifest (Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow). Templates
    given together resolve each other's templateRef."""
    items = [manifests] if isinstance(manifests, Mapping) else list(manifests)
    return _validators[_checked_version(version)].validate(items)


# Fields flowpack renders that older Argo versions' types lack, with the first version that has them. The harness
# decodes strictly, as `argo lint` does, but the Argo Server of those versions decodes a create request with
# encoding/json (util/json JSONMarshaler), which drops an unknown field: the manifest is accepted and the field has
# no effect there (README, Argo versions).
NEWER_FIELDS: dict[str, tuple[str, str]] = {"cap": ("backoff", "v3.7")}  # retryStrategy.backoff.cap


def as_server_reads(manifest: Any, version: str) -> Any:
    """The manifest as this version's Argo Server decodes it: without the NEWER_FIELDS its types lack."""
    if isinstance(manifest, list):
        return [as_server_reads(item, version) for item in manifest]
    if not isinstance(manifest, Mapping):
        return manifest
    out = {key: as_server_reads(value, version) for key, value in manifest.items()}
    for name, (parent, since) in NEWER_FIELDS.items():
        if _version_key(version) < _version_key(since) and isinstance(out.get(parent), dict):
            out[parent] = {k: v for k, v in out[parent].items() if k != name}
    return out


def assert_argo_accepts(manifest: Mapping[str, Any]) -> None:
    """Every pinned Argo version's server would accept the manifest on create (the failure message is Argo's own)."""
    for version in VERSIONS:
        for v in validate(as_server_reads(manifest, version), version=version):
            assert v.ok, f"Argo {version} refuses {v.kind} {v.name!r} ({v.stage}): {v.message}"


@dataclass(frozen=True)
class HarnessNode:
    """One node of the workflow status Argo's controller wrote."""

    id: str
    name: str
    display_name: str
    type: str
    template_name: str
    phase: str
    message: str
    boundary_id: str
    children: tuple[str, ...]
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    exit_code: str | None
    cache_hit: bool | None = None  # memoized nodes: whether Argo's controller served the outputs from its cache

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "HarnessNode":
        return cls(id=d["id"], name=d["name"], display_name=d.get("displayName", ""), type=d.get("type", ""),
                   template_name=d.get("templateName", ""), phase=d.get("phase", ""),
                   message=d.get("message", ""), boundary_id=d.get("boundaryID", ""),
                   children=tuple(d.get("children") or ()), inputs=d.get("inputs") or {},
                   outputs=d.get("outputs") or {}, exit_code=d.get("exitCode"),
                   cache_hit=(d["memoizationStatus"].get("hit", False) if "memoizationStatus" in d else None))

    @property
    def parameters(self) -> dict[str, str | None]:
        """Output parameters by name."""
        return {p["name"]: p.get("value") for p in self.outputs.get("parameters") or ()}

    @property
    def result(self) -> str | None:
        """outputs.result, when Argo captured it."""
        return self.outputs.get("result")

    @property
    def artifacts(self) -> dict[str, Mapping[str, Any]]:
        """Output artifacts by name, with the location (s3 key) Argo recorded."""
        return {a["name"]: a for a in self.outputs.get("artifacts") or ()}

    @property
    def input_parameters(self) -> dict[str, str | None]:
        """The input parameters the controller resolved for the node."""
        return {p["name"]: p.get("value") for p in self.inputs.get("parameters") or ()}


@dataclass(frozen=True)
class HarnessRun:
    """Argo's controller's account of one run: the workflow's phase and message, every node, and where the store
    keeps output artifacts (key -> path). Phase is Argo's, or "Refused" (not accepted on create) or "Stuck"
    (no progress: the controller requeued without end, or --timeout passed)."""

    phase: str
    message: str
    last_log: str
    nodes: tuple[HarnessNode, ...]
    artifacts: Mapping[str, str]
    outputs: Mapping[str, Any]
    record: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "HarnessRun":
        return cls(phase=d["phase"], message=d.get("message", ""), last_log=d.get("lastLog", ""),
                   nodes=tuple(HarnessNode.from_json(n) for n in d.get("nodes") or ()),
                   artifacts=d.get("artifacts") or {}, outputs=d.get("outputs") or {}, record=d)

    def nodes_named(self, display_name: str) -> list[HarnessNode]:
        """All nodes with this display name (retries and loop items share names with their parents' children)."""
        return [n for n in self.nodes if n.display_name == display_name]

    def node(self, display_name: str, type: str | None = None) -> HarnessNode:
        """The one node with this display name (and type, when given)."""
        found = [n for n in self.nodes_named(display_name) if type is None or n.type == type]
        if len(found) != 1:
            raise KeyError(f"{len(found)} nodes named {display_name!r} (type {type}); nodes: "
                           f"{sorted((n.display_name, n.type) for n in self.nodes)}")
        return found[0]

    @property
    def by_display_name(self) -> dict[str, list[HarnessNode]]:
        """Nodes grouped by display name."""
        out: dict[str, list[HarnessNode]] = {}
        for n in self.nodes:
            out.setdefault(n.display_name, []).append(n)
        return out

    @property
    def pods(self) -> list[HarnessNode]:
        """The nodes that ran as pods."""
        return [n for n in self.nodes if n.type == "Pod"]


def run(manifest: Mapping[str, Any] | list[Mapping[str, Any]], store_dir: Path | str, *, timeout: float = 180,
        stuck_after: float = 5, version: str | None = None) -> HarnessRun:
    """Run a Workflow (plus any WorkflowTemplates it references, given in the same list) with the controller of
    this Argo version (default: DEFAULT_VERSION). Key-only s3 artifacts are read from and written to `store_dir`,
    keyed by their key."""
    docs = manifest if isinstance(manifest, list) else [manifest]
    store = Path(store_dir)
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=True) as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=True) + "\n")
        f.flush()
        done = subprocess.run([str(harness_binary(version)), "run", f.name, "--store", str(store), "--timeout",
                               str(timeout), "--stuck-after", str(stuck_after)],
                              capture_output=True, text=True, encoding="utf-8", timeout=timeout + 60)
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise HarnessError(f"argo-harness {_checked_version(version)} run failed (exit {done.returncode}): "
                           f"{done.stderr[-3000:]}")
    return HarnessRun.from_json(json.loads(done.stdout))


@dataclass(frozen=True)
class Harness:
    """The harness of one Argo version, for tests parametrized over VERSIONS (the `harness` fixture)."""

    version: str

    @property
    def major(self) -> int:
        """Argo's major version (3 or 4)."""
        return _version_key(self.version)[0]

    def older_than(self, version: str) -> bool:
        """This Argo version comes before `version` (e.g. "v3.7")."""
        return _version_key(self.version) < _version_key(version)

    def validate(self, manifests: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[Validation]:
        """`validate` on this version."""
        return validate(manifests, version=self.version)

    def run(self, manifest: Mapping[str, Any] | list[Mapping[str, Any]], store_dir: Path | str, *,
            timeout: float = 180, stuck_after: float = 5) -> HarnessRun:
        """`run` on this version."""
        return run(manifest, store_dir, timeout=timeout, stuck_after=stuck_after, version=self.version)
