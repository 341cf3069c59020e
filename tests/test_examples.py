"""Every example in examples/ executed for real, with its results checked (not only that it ran).

The quick start and the dflow hello-world run as scripts (`python examples/X.py`, as a reader would) and through the
API; the scikit-learn model sweep runs as a script on the local engine and, with its step image built by
`build_images` (content-tagged, so later runs reuse it), on the Docker engine. Sweep results are checked against the
same models trained directly in the test process (tests/examples_support.py).
"""

from __future__ import annotations

import ast
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flowpack as fp  # noqa: E402
from examples_support import EXAMPLES, check_sweep, load_example, oracle, unload  # noqa: E402
from fixtures_docker import docker_client  # noqa: E402,F401  (pytest fixture)

# Three grid points keep the Docker run short; the third (a large gamma) overfits, so the pick is not trivial.
SMALL_GRID = [{"C": 10.0, "gamma": 0.001}, {"C": 1.0, "gamma": 0.0001}, {"C": 1.0, "gamma": 0.01}]


def _script(stem: str, cwd: Path) -> str:
    """Run examples/<stem>.py as `python examples/<stem>.py` from an empty folder; its stdout."""
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{stem}.py")], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"examples/{stem}.py exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _only_run(cwd: Path) -> Path:
    runs = [p for p in (cwd / ".flowpack" / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture
def sweep_module():
    module = load_example("model_sweep")
    yield module
    unload(module)


# ------------------------------------------------------------------------------------------ quick start, hello world
def test_quickstart_script(tmp_path):
    out = _script("quickstart", tmp_path).splitlines()
    n = 5
    x = n + 1                         # add(n, 1)
    rows = x + x                      # make_table(add(x, x))
    squares = [float(i * i) for i in range(rows)]
    assert out[0] == "3"              # add(1, 2) outside a workflow
    assert ast.literal_eval(out[1]) == {"count": len(squares), "mean": statistics.fmean(squares), "offset": x}
    size, _, rest = out[2].partition(" ")
    assert rest == "bytes of Argo YAML" and int(size) > 1000
    assert _only_run(tmp_path).name.startswith("pipeline-")


def test_hello_shell_script(tmp_path):
    out = _script("hello_shell", tmp_path).splitlines()
    assert out == ["out_param: 42", "out_art: Hello, world"]


def test_hello_shell_two_steps_writing_the_same_path(tmp_path):
    hello = load_example("hello_shell")
    try:
        result = hello.two_at_once.run(run_dir=tmp_path / "runs", first="uno", second="dos").result()
    finally:
        unload(hello)
    assert result["a"].read_text() == "uno\n" and result["b"].read_text() == "dos\n"
    assert (result["a_num"], result["b_num"]) == (1, 2)


def test_make_demo_runs_every_example_workflow():
    """examples/run_examples.py (what `make demo` runs) names every workflow the example files define."""
    runner = load_example("run_examples")
    try:
        jobs = {target for target, _ in runner.JOBS}
    finally:
        unload(runner)
    defined = set()
    for path in sorted(EXAMPLES.glob("*.py")):
        if path.stem == "run_examples":
            continue
        module = load_example(path.stem, alias=f"fp_example_scan_{path.stem}")
        try:
            defined |= {f"{path.name}:{name}" for name, v in vars(module).items() if isinstance(v, fp.Workflow)}
        finally:
            unload(module)
    assert jobs == defined


# ------------------------------------------------------------------------------------------ the model sweep
def test_sweep_script_on_the_local_engine(tmp_path, sweep_module):
    out = _script("model_sweep", tmp_path)
    first, _, report = out.partition("\n")
    expected = oracle(sweep_module.GRID)
    top = max(expected.values(), key=lambda s: s.test_accuracy)
    shown, _, accuracy = first.removeprefix("best: ").partition(" test accuracy ")
    assert ast.literal_eval(shown) == top.params and accuracy == str(round(top.test_accuracy, 4))
    run = _only_run(tmp_path)
    assert report.strip() == (run / "outputs" / "report").read_text().strip()
    check_sweep(run, top.params, top.test_accuracy, report, sweep_module.GRID)


def test_sweep_in_docker_with_its_built_image(tmp_path, sweep_module, docker_client):
    wf = sweep_module.sweep
    lines: list[str] = []
    images = wf.build_images(progress=lines.append)
    assert images["split"] == images["train"] and images["train"].startswith("flowpack/step:")
    assert images["pick-best"] == "python:3.11-slim"  # stdlib only: nothing to add to the base image
    spec = next(line for line in lines if line.startswith("image for "))
    assert sweep_module.SKLEARN in spec and "numpy==" in spec  # the user's pin, and numpy pinned by flowpack

    again: list[str] = []
    assert wf.build_images(progress=again.append) == images  # content-tagged: the same spec is never rebuilt
    assert any("build skipped" in line for line in again) and not any(line.startswith("Step ") for line in again)
    show = "import sklearn; print(sklearn.__version__)"
    version = docker_client.containers.run(images["train"], ["python", "-c", show], remove=True, network_disabled=True)
    assert version.decode().strip() == sweep_module.SKLEARN.split("==")[1]

    run = wf.run(engine="docker", run_dir=tmp_path / "runs", grid=SMALL_GRID)
    used = {t["name"]: (t.get("script") or t.get("container"))["image"]
            for t in run.manifest["spec"]["templates"] if "script" in t or "container" in t}
    assert used == images
    best = run.result()
    assert isinstance(best, sweep_module.Best)
    check_sweep(run.path, best.params, best.accuracy, best.report.read_text(), SMALL_GRID)
    assert json.loads(run.record["parameters"]["grid"]) == SMALL_GRID
