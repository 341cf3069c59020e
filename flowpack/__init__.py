"""flowpack: run plain Python functions as container steps of Argo Workflows, locally first.

    import flowpack as fp

    @fp.op
    def add(a: int, b: int = 1) -> int:
        return a + b

    @fp.workflow
    def pipeline(n: int = 3) -> int:
        return add(add(n, 1), 2)

    pipeline.run(n=5).result()   # 9, on the embedded local engine
    pipeline.to_yaml(n=5)        # the Argo Workflow manifest
"""

import importlib

from ._errors import (
    ArgoError,
    ArtifactIntegrityError,
    FlowpackError,
    ImageBuildError,
    ManifestError,
    OpDefinitionError,
    RecordError,
    ResourceError,
    RunError,
    ScriptError,
    StepFailed,
    StoreError,
    UsageError,
    WorkflowBuildError,
)
from ._exit_with import exit_with
from ._item import item
from ._logs import LogLine
from ._one_of import one_of
from ._op import Op, op
from ._retry import Retry
from ._rows import rows
from ._sequence import sequence
from ._shell import Artifact, Parameter, ShellOp, shell
from ._status_deps import any_of, status
from ._store import (
    S3,
    ArtifactNotFoundError,
    BucketNotFoundError,
    LocalStore,
    StoreAuthError,
    StoreUnreachableError,
)
from ._workflow import Workflow, workflow

__version__ = "0.1.0"

# What users hold and catch that lives in modules with heavier imports (HTTP, schema checks): loaded on first use,
# so `import flowpack` stays light. name -> module.
_LAZY = {
    "Run": "flowpack._run",
    "ArgoRun": "flowpack._argo",
    "ArgoClient": "flowpack._argo",
    "ArgoConfig": "flowpack._argo",
    "ArgoArtifactError": "flowpack._argo",
    "ArgoAuthError": "flowpack._argo",
    "ArgoConfigError": "flowpack._argo",
    "ArgoConflictError": "flowpack._argo",
    "ArgoForbiddenError": "flowpack._argo",
    "ArgoManifestRejected": "flowpack._argo",
    "ArgoNamespaceError": "flowpack._argo",
    "ArgoNotFoundError": "flowpack._argo",
    "ArgoTimeoutError": "flowpack._argo",
    "ArgoUnreachableError": "flowpack._argo",
    "ArgoLimitWarning": "flowpack._validate",
    "ManifestSizeWarning": "flowpack._validate",
    "SkippableValueWarning": "flowpack._skip_warning",
    "BigValueWarning": "flowpack._bigvalue",
    "BIG_VALUE": "flowpack._bigvalue",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowpack' has no attribute {name!r}")

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "any_of",
    "ArgoArtifactError",
    "ArgoAuthError",
    "ArgoClient",
    "ArgoConfig",
    "ArgoConfigError",
    "ArgoConflictError",
    "ArgoError",
    "ArgoForbiddenError",
    "ArgoLimitWarning",
    "ArgoManifestRejected",
    "ArgoNamespaceError",
    "ArgoNotFoundError",
    "ArgoRun",
    "ArgoTimeoutError",
    "ArgoUnreachableError",
    "Artifact",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "BIG_VALUE",
    "BigValueWarning",
    "BucketNotFoundError",
    "exit_with",
    "FlowpackError",
    "ImageBuildError",
    "item",
    "LocalStore",
    "LogLine",
    "ManifestError",
    "ManifestSizeWarning",
    "one_of",
    "Op",
    "op",
    "OpDefinitionError",
    "Parameter",
    "RecordError",
    "ResourceError",
    "Retry",
    "rows",
    "Run",
    "RunError",
    "S3",
    "ScriptError",
    "sequence",
    "shell",
    "ShellOp",
    "SkippableValueWarning",
    "status",
    "StepFailed",
    "StoreAuthError",
    "StoreError",
    "StoreUnreachableError",
    "UsageError",
    "workflow",
    "Workflow",
    "WorkflowBuildError",
]
