"""Hera side of the comparisons; runs in the peers' venv (bench/.venv), started by bench/run_all.py.

    python bench/peers/hera_worker.py build N RUNS     # build + render the shared DAG shape to a YAML string
    python bench/peers/hera_worker.py fanout ITEMS     # manifest bytes of Hera's fan-out constructs

Hera has no local runner, so it takes part in the build/render and fan-out comparisons only.
Tasks pass values as stdout results (`{{tasks.X.outputs.result}}`), Hera's usual way for a script.
"""



import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import emit, error_result, shape_parents, timed_runs  # noqa: E402


def _script():
    from hera.workflows import script

    @script(image="python:3.11-slim")
    def inc(x: int):
        print(x + 1)

    @script(image="python:3.11-slim")
    def make_list(n: int):
        import json as _json

        print(_json.dumps(list(range(n))))

    return inc, make_list


def build(n: int) -> str:
    """The shared shape with Hera: explicit `>>` dependencies, values through stdout results."""
    from hera.workflows import DAG, Workflow

    inc, _ = _script()
    parents = shape_parents(n)
    with Workflow(generate_name="shape-", entrypoint="shape", arguments={"start": "0"}) as w:
        with DAG(name="shape"):
            tasks = []
            for i, p in enumerate(parents):
                if p < 0:
                    t = inc(name=f"inc-{i}", arguments={"x": "{{workflow.parameters.start}}"})
                else:
                    t = inc(name=f"inc-{i}", arguments={"x": tasks[p].result})
                    tasks[p] >> t
                tasks.append(t)
    return w.to_yaml()


def build_sizes(n: int) -> dict:
    import yaml

    text = build(n)
    compact = json.dumps(yaml.safe_load(text), separators=(",", ":"))
    return {"yaml_bytes": len(text), "json_bytes": len(compact)}


def fanout(items: int) -> dict:
    """Fan-out of `items` items: over a task's result (withParam), a workflow parameter, and a literal list."""
    inc, make_list = _script()
    out = {}

    def sizes(w) -> dict:
        text = w.to_yaml()
        d = w.to_dict()
        templates = json.dumps(d["spec"]["templates"], separators=(",", ":"))
        dags = json.dumps([t for t in d["spec"]["templates"] if "dag" in t], separators=(",", ":"))
        return {"yaml_bytes": len(text), "templates_json_bytes": len(templates), "dag_json_bytes": len(dags)}

    cases = {
        "over a task output (withParam)": lambda: _fan_task(inc, make_list, items),
        "over a workflow parameter (withParam)": lambda: _fan_param(inc, items),
        "over a literal list (withItems)": lambda: _fan_literal(inc, items),
    }
    for label, make in cases.items():
        try:
            out[label] = sizes(make())
        except Exception as exc:  # reported, never dropped
            out[label] = error_result(exc)
    return out


def _fan_task(inc, make_list, items):
    from hera.workflows import DAG, Workflow

    with Workflow(generate_name="fan-", entrypoint="fan") as w:
        with DAG(name="fan"):
            gen = make_list(name="gen", arguments={"n": items})
            m = inc(name="map", arguments={"x": "{{item}}"}, with_param=gen.result)
            gen >> m
    return w


def _fan_param(inc, items):
    from hera.workflows import DAG, Workflow

    with Workflow(generate_name="fan-", entrypoint="fan", arguments={"items": json.dumps(list(range(items)))}) as w:
        with DAG(name="fan"):
            inc(name="map", arguments={"x": "{{item}}"}, with_param="{{workflow.parameters.items}}")
    return w


def _fan_literal(inc, items):
    from hera.workflows import DAG, Workflow

    with Workflow(generate_name="fan-", entrypoint="fan") as w:
        with DAG(name="fan"):
            inc(name="map", arguments={"x": "{{item}}"}, with_items=list(range(items)))
    return w


def main(argv):
    from importlib.metadata import version

    what = argv[0]
    result = {"tool": "hera", "version": version("hera")}
    try:
        if what == "build":
            n, runs = int(argv[1]), int(argv[2])
            build(50)  # warm-up: imports and first-use caches, not counted
            result.update(timed_runs(lambda: build(n), runs, warmup=0), **build_sizes(n), tasks=n)
        elif what == "fanout":
            result.update(cases=fanout(int(argv[1])))
        else:
            raise SystemExit(f"unknown task {what!r}")
    except Exception as exc:
        result.update(error_result(exc))
    emit(result)


if __name__ == "__main__":
    main(sys.argv[1:])
