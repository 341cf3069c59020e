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

from ._errors import (
    FlowpackError,
    ManifestError,
    OpDefinitionError,
    ResourceError,
    RunError,
    ScriptError,
    StepFailed,
    StoreError,
    WorkflowBuildError,
)
from ._op import Op, op
from ._shell import Artifact, Parameter, ShellOp, shell
from ._store import LocalStore, S3
from ._workflow import Workflow, workflow

__version__ = "0.1.0"

__all__ = [
    "op",
    "workflow",
    "Op",
    "Workflow",
    "shell",
    "ShellOp",
    "Parameter",
    "Artifact",
    "LocalStore",
    "S3",
    "FlowpackError",
    "OpDefinitionError",
    "WorkflowBuildError",
    "ScriptError",
    "ManifestError",
    "RunError",
    "ResourceError",
    "StepFailed",
    "StoreError",
]
