"""Kubeflow Pipelines (kfp) side of the comparisons; runs in the peers' venv (bench/.venv), started by bench/run_all.py.

    python bench/peers/kfp_worker.py build N RUNS            # define + compile the shared DAG shape to a YAML string
    python bench/peers/kfp_worker.py fanout ITEMS            # bytes of kfp's ParallelFor constructs
    python bench/peers/kfp_worker.py local chain|fan N RUNS  # kfp.local with SubprocessRunner(use_venv=False)

kfp compiles to its own pipeline spec (IR YAML), not an Argo Workflow: the bytes are of that spec. A kfp pipeline's
graph is built when `@dsl.pipeline` decorates the function, so the timed build includes the decoration and the compile.
Components use `install_kfp_package=False`, so local steps run in this venv without pip installing anything.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import emit, error_result, load, shape_parents, summary, timed_runs  # noqa: E402


def _components():
    from kfp import dsl

    @dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
    def inc(x: int) -> int:
        return x + 1

    @dsl.component(base_image="python:3.11-slim", install_kfp_package=False)
    def make_list(n: int) -> list:
        return list(range(n))

    return inc, make_list


def _compile(pipeline) -> str:
    from kfp import compiler

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pipeline.yaml")
        compiler.Compiler().compile(pipeline, package_path=path)
        with open(path) as f:
            return f.read()


def build(n: int) -> str:
    from kfp import dsl

    inc, _ = _components()
    parents = shape_parents(n)

    @dsl.pipeline(name="shape")
    def shape(start: int = 0):
        tasks = []
        for p in parents:
            tasks.append(inc(x=start if p < 0 else tasks[p].output))

    return _compile(shape)


def build_sizes(n: int) -> dict:
    import yaml

    text = build(n)
    return {"yaml_bytes": len(text), "json_bytes": len(json.dumps(yaml.safe_load(text), separators=(",", ":")))}


def fanout(items: int) -> dict:
    from kfp import dsl

    inc, make_list = _components()

    def over_task():
        @dsl.pipeline(name="fan")
        def fan():
            gen = make_list(n=items)
            with dsl.ParallelFor(gen.output) as item:
                inc(x=item)
        return fan

    def over_param():
        @dsl.pipeline(name="fan")
        def fan(values: list = list(range(items))):
            with dsl.ParallelFor(values) as item:
                inc(x=item)
        return fan

    def over_literal():
        @dsl.pipeline(name="fan")
        def fan():
            with dsl.ParallelFor(list(range(items))) as item:
                inc(x=item)
        return fan

    out = {}
    for label, make in {"over a task output (ParallelFor)": over_task,
                        "over a pipeline parameter (ParallelFor)": over_param,
                        "over a literal list (ParallelFor)": over_literal}.items():
        try:
            text = _compile(make())
            out[label] = {"yaml_bytes": len(text)}
        except Exception as exc:  # reported, never dropped
            out[label] = error_result(exc)
    return out


def local(kind: str, n: int) -> float:
    """Run an n-step chain (or a 1 + (n-1)-way fan-out) with kfp.local; return the wall time of the run."""
    from kfp import dsl

    inc, _ = _components()

    @dsl.pipeline(name=kind)
    def pipe(start: int = 0) -> int:
        first = prev = inc(x=start)
        for _ in range(1, n):
            prev = inc(x=(prev if kind == "chain" else first).output)
        return prev.output

    t0 = time.perf_counter()
    out = pipe(start=0)
    elapsed = time.perf_counter() - t0
    value = getattr(out, "output", out)
    expected = n if kind == "chain" else 2
    if value != expected:
        raise RuntimeError(f"kfp local {kind} returned {value!r}, expected {expected}")
    return elapsed


def main(argv):
    from importlib.metadata import version

    what = argv[0]
    result = {"tool": "kfp", "version": version("kfp")}
    try:
        if what == "build":
            n, runs = int(argv[1]), int(argv[2])
            build(50)  # warm-up, not counted
            result.update(timed_runs(lambda: build(n), runs, warmup=0), **build_sizes(n), tasks=n)
        elif what == "fanout":
            result.update(cases=fanout(int(argv[1])))
        elif what == "local":
            import logging

            from kfp import local as kfp_local

            kind, n, runs = argv[1], int(argv[2]), int(argv[3])
            root = tempfile.mkdtemp(prefix="bench-kfp-")
            kfp_local.init(runner=kfp_local.SubprocessRunner(use_venv=False), pipeline_root=root)
            logging.disable(logging.INFO)  # kfp.local logs every task's outputs; keep the worker's output short
            local(kind, 3)  # warm-up, not counted
            before = load()
            times = [local(kind, n) for _ in range(runs)]
            result.update(summary(times, load_before=before, load_after=load()), steps=n)
        else:
            raise SystemExit(f"unknown task {what!r}")
    except Exception as exc:
        result.update(error_result(exc))
    emit(result)


if __name__ == "__main__":
    main(sys.argv[1:])
