"""dflow (pydflow) side of the comparisons; runs in the peers' venv (bench/.venv), started by bench/run_all.py.

    python bench/peers/dflow_worker.py build N RUNS          # build + render the shared DAG shape to a YAML string
    python bench/peers/dflow_worker.py fanout ITEMS          # manifest bytes of dflow's fan-out constructs
    python bench/peers/dflow_worker.py local chain|fan N RUNS  # run locally in dflow's debug mode

Package upload is off: `PythonOPTemplate(..., upload_dflow=False)` and `dflow.python.upload_packages` left empty,
so rendering never reaches for S3. Debug mode (`config["mode"] = "debug"`) runs each step as `python3 script` from
PATH: the runner puts this venv's bin first on PATH, as an activated venv would. The ops live in dflow_ops.py
(dflow imports an op from its module in the step script), reachable through PYTHONPATH, as if installed in the image.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, error_result, load, shape_parents, summary, timed_runs  # noqa: E402


def _ops():
    from dflow.python import PythonOPTemplate

    from dflow_ops import inc, make_list

    tmpl = PythonOPTemplate(inc, image="python:3.11-slim", upload_dflow=False)
    gen = PythonOPTemplate(make_list, image="python:3.11-slim", upload_dflow=False)
    return tmpl, gen


def _shape(n: int, tmpl):
    from dflow import Task, Workflow

    wf = Workflow(name="shape")
    tasks = []
    for i, p in enumerate(shape_parents(n)):
        x = 0 if p < 0 else tasks[p].outputs.parameters["y"]
        t = Task(name=f"inc-{i}", template=tmpl, parameters={"x": x})
        wf.add(t)
        tasks.append(t)
    return wf


def build(n: int) -> str:
    tmpl, _ = _ops()
    return _shape(n, tmpl).to_yaml()


def build_sizes(n: int) -> dict:
    tmpl, _ = _ops()
    wf = _shape(n, tmpl)
    text = wf.to_yaml()
    return {"yaml_bytes": len(text), "json_bytes": len(json.dumps(wf.to_dict(), separators=(",", ":")))}


def fanout(items: int) -> dict:
    from dflow import Task, Workflow

    tmpl, gen = _ops()

    def over_task():
        wf = Workflow(name="fan")
        g = Task(name="gen", template=gen, parameters={"n": items})
        wf.add(g)
        wf.add(Task(name="map", template=tmpl, parameters={"x": "{{item}}"}, with_param=g.outputs.parameters["items"]))
        return wf

    def over_param():
        wf = Workflow(name="fan", parameters={"items": list(range(items))})
        wf.add(Task(name="map", template=tmpl, parameters={"x": "{{item}}"},
                    with_param="{{workflow.parameters.items}}"))
        return wf

    def over_literal():
        wf = Workflow(name="fan")
        wf.add(Task(name="map", template=tmpl, parameters={"x": "{{item}}"}, with_param=list(range(items))))
        return wf

    out = {}
    for label, make in {"over a task output (withParam)": over_task,
                        "over a workflow parameter (withParam)": over_param,
                        "over a literal list (withParam, a JSON list inline)": over_literal}.items():
        try:
            wf = make()
            d = wf.to_dict()
            out[label] = {"yaml_bytes": len(wf.to_yaml()),
                          "templates_json_bytes": len(json.dumps(d["spec"]["templates"], separators=(",", ":"))),
                          "dag_json_bytes": len(json.dumps([t for t in d["spec"]["templates"] if "dag" in t],
                                                           separators=(",", ":")))}
        except Exception as exc:  # reported, never dropped
            out[label] = error_result(exc)
    return out


def local(kind: str, n: int) -> float:
    """Run an n-step chain (or a 1 + (n-1)-way fan-out) in debug mode; return the wall time of submit()."""
    from dflow import Task, Workflow, config

    config["mode"] = "debug"
    # The op module must be importable by each step, as it would be when installed in the step's image.
    peers = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [peers, os.environ.get("PYTHONPATH")]))
    tmpl, _ = _ops()
    work = tempfile.mkdtemp(prefix="bench-dflow-")
    os.chdir(work)  # debug mode writes its run folders in the working directory
    wf = Workflow(name=kind)
    first = prev = Task(name="inc-0", template=tmpl, parameters={"x": 0})
    wf.add(first)
    for i in range(1, n):
        src = prev if kind == "chain" else first
        t = Task(name=f"inc-{i}", template=tmpl, parameters={"x": src.outputs.parameters["y"]})
        wf.add(t)
        prev = t
    t0 = time.perf_counter()
    wf.submit()
    elapsed = time.perf_counter() - t0
    status = wf.query_status()
    if status != "Succeeded":
        raise RuntimeError(f"dflow debug run ended {status} (run folder {work})")
    return elapsed


def main(argv):
    from importlib.metadata import version

    what = argv[0]
    result = {"tool": "dflow", "version": version("pydflow")}
    try:
        if what == "build":
            n, runs = int(argv[1]), int(argv[2])
            build(50)  # warm-up, not counted
            result.update(timed_runs(lambda: build(n), runs, warmup=0), **build_sizes(n), tasks=n)
        elif what == "fanout":
            result.update(cases=fanout(int(argv[1])))
        elif what == "local":
            kind, n, runs = argv[1], int(argv[2]), int(argv[3])
            local(kind, 3)  # warm-up, not counted
            before = load()
            times = [local(kind, n) for _ in range(runs)]
            result.update(summary(times, load_before=before, load_after=load()), steps=n,
                          python3=_which("python3"))
        else:
            raise SystemExit(f"unknown task {what!r}")
    except Exception as exc:
        result.update(error_result(exc))
    emit(result)


def _which(cmd: str) -> str:
    import shutil

    return shutil.which(cmd) or "?"


if __name__ == "__main__":
    main(sys.argv[1:])
