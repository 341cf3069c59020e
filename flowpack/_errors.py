"""Every exception flowpack raises, as one hierarchy a user can catch at the level they care about."""

from __future__ import annotations

from ._traceback import render_traceback


class FlowpackError(Exception):
    """Base class of every flowpack error."""


class OpDefinitionError(FlowpackError, TypeError):
    """A function can't become an op (raised at decoration time): names the function, the fault and the fix."""


class WorkflowBuildError(FlowpackError, TypeError):
    """A workflow body wires ops wrongly (raised at build time)."""


class ScriptError(FlowpackError):
    """A rendered step script would fail before running user code (undefined name, syntax)."""


class ManifestError(FlowpackError):
    """A rendered manifest has a dangling reference or an invalid name."""


class RunError(FlowpackError):
    """A workflow run did not succeed; `failures` lists the failed steps."""

    def __init__(self, message: str, failures: list | None = None, run=None):
        super().__init__(message)
        self.failures = failures or []
        self.run = run


class StepFailed(RunError):
    """One step failed: carries its name, exit code and stderr tail."""

    def _render_traceback_(self) -> list[str]:
        """IPython's hook: a notebook shows the failed step and its stderr, not flowpack's internal frames."""
        return render_traceback(self)


class StoreError(FlowpackError):
    """An artifact store can't read or write (credentials, bucket, endpoint, disk)."""


class ArtifactIntegrityError(StoreError):
    """A downloaded artifact's sha256 does not match the recorded digest."""


class ImageBuildError(FlowpackError):
    """A container image failed to build or push; carries the failing build step."""

    step: str = ""  # the build step that failed ("Step 3/7 : RUN ..."), when a build failed
    output_tail: tuple[str, ...] = ()  # that step's last output lines


class ArgoError(FlowpackError):
    """The Argo Server refused or failed a request."""


class ResourceError(FlowpackError):
    """A step asks for more CPUs, memory or GPUs than the machine that should run it has."""


class UsageError(FlowpackError, ValueError):
    """A command-line argument is wrong (a target that isn't a workflow, a bad -p value, a bad option)."""


class RecordError(FlowpackError):
    """A run's record (run.json, step.json, a cache entry) can't be written: a full disk, a read-only folder."""
