"""The public names of `import flowpack as fp`: everything users hold or catch is exported, and the import stays
light."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import types

import flowpack as fp


def _package_classes() -> dict[str, type]:
    """Every class defined in flowpack's own modules (each imported once), by name."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(fp.__path__, "flowpack."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                found[name] = obj
    return found


def test_all_is_sorted_and_names_every_public_attribute():
    public = {name for name, value in vars(fp).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public <= set(fp.__all__), f"public but not in __all__: {sorted(public - set(fp.__all__))}"
    assert fp.__all__ == sorted(fp.__all__, key=str.casefold)
    assert len(set(fp.__all__)) == len(fp.__all__)


def test_every_name_in_all_resolves_and_star_import_works():
    for name in fp.__all__:
        assert getattr(fp, name) is not None, name
    namespace: dict = {}
    exec("from flowpack import *", namespace)
    assert set(fp.__all__) <= set(namespace)
    assert set(fp.__all__) <= set(dir(fp))


def test_every_error_and_warning_class_is_exported():
    classes = _package_classes()
    errors = {n for n, c in classes.items() if issubclass(c, fp.FlowpackError)}
    warns = {n for n, c in classes.items() if issubclass(c, Warning)}
    assert errors >= {"FlowpackError", "StepFailed", "RunError", "ArgoError", "ArgoNotFoundError", "StoreError"}
    missing = sorted(n for n in errors | warns if n not in fp.__all__)
    assert not missing, f"error or warning classes users can't reach as fp.<name>: {missing}"
    for name in errors | warns:
        assert getattr(fp, name) is classes[name]


def test_what_users_hold_is_exported(tmp_path):
    from flowpack._argo import ArgoClient, ArgoRun

    @fp.op
    def one() -> int:
        return 1

    @fp.workflow
    def wf() -> int:
        return one()

    run = wf.run(run_dir=tmp_path)
    assert type(run) is fp.Run and isinstance(run, fp.Run)
    assert fp.ArgoRun is ArgoRun and fp.ArgoClient is ArgoClient
    assert isinstance(fp.op, types.FunctionType) and isinstance(one, fp.Op) and isinstance(wf, fp.Workflow)
    assert isinstance(fp.LocalStore(tmp_path / "store"), fp.LocalStore)


def test_import_flowpack_stays_light():
    code = ("import json, sys; before = set(sys.modules); import flowpack; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    # The engines themselves; Argo's expression language (_engine/_expr, _cond, _choice, _gojson, _duration) sits
    # below the builder, which writes those expressions (ARCHITECTURE.md), and stays loaded.
    heavy = ("requests", "urllib3", "minio", "docker", "IPython", "jinja2", "yaml", "jsonschema", "cloudpickle",
             "flowpack._argo", "flowpack._engine.local", "flowpack._engine.docker", "flowpack._engine._dag",
             "flowpack._engine._step", "flowpack._engine._forkserver", "flowpack._validate", "flowpack._run",
             "flowpack._view")
    pulled = sorted(m for m in loaded if m.split(".")[0] in heavy or m.startswith(heavy))
    assert not pulled, f"`import flowpack` imports {pulled}: load them on first use instead"
    lazy = subprocess.run([sys.executable, "-c", "import flowpack as fp, sys; fp.ArgoRun; "
                           "print('flowpack._argo' in sys.modules)"], capture_output=True, text=True, check=True)
    assert lazy.stdout.strip() == "True"  # the lazy names load their module when first used


def test_dependency_helpers_are_exported():
    from flowpack._logs import LogLine
    from flowpack._one_of import one_of
    from flowpack._retry import Retry
    from flowpack._rows import rows
    from flowpack._sequence import sequence
    from flowpack._status_deps import any_of, status

    assert fp.any_of is any_of and fp.status is status and fp.one_of is one_of and fp.sequence is sequence
    assert fp.LogLine is LogLine and fp.Retry is Retry and fp.rows is rows
    assert {"any_of", "LogLine", "one_of", "Retry", "rows", "sequence", "status"} <= set(fp.__all__)
