"""Short results (numbers, booleans, None) travel as Argo's `outputs.result`: the step's stdout holds only the value,
while everything the function prints (Python, C level, child processes) goes to stderr."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import dag_tasks, render_checked, run_checked, template

OPS = '''
import os
import subprocess
import sys
from typing import Literal, Optional
import flowpack as fp


@fp.op
def noisy(n: int) -> int:
    print("python print", n)
    print(42)                                    # looks like a result: must not become one
    sys.stdout.write("no newline at the end")
    sys.stdout.flush()
    os.write(1, b"\\nC-level write to fd 1\\n")
    subprocess.run(["echo", "child process"], check=True)
    print("to stderr", file=sys.stderr)
    return n * 10


@fp.op
def maybe(n: int) -> Optional[float]:
    return None if n < 0 else n / 4


@fp.op
def flag(x: Optional[float]) -> bool:
    return x is not None and x > 1


@fp.op
def pick(ok: bool) -> Literal["yes", "no"]:
    return "yes" if ok else "no"


@fp.op
def word(n: int) -> str:
    print("word", n)
    return "n=" + str(n)


@fp.op
def many(n: int) -> list:
    return list(range(n))


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.op
def nothing(n: int) -> None:
    print("side effect", n)


@fp.workflow
def chain(n: int = 3):
    a = noisy(n)
    q = maybe(a)
    ok = flag(q)
    w = word(a)
    nothing(a)
    squares = noisy.map(n=many(n))
    return {"a": a, "q": q, "ok": ok, "answer": pick(ok), "w": w, "sum": total(squares)}
'''


def test_short_returns_are_read_through_outputs_result_and_others_through_parameters(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.chain, n=3)
    tasks = dag_tasks(manifest)
    value = {t: {p["name"]: p["value"] for p in tasks[t]["arguments"]["parameters"]} for t in tasks}
    assert value["maybe"]["n"] == "{{tasks.noisy.outputs.result}}"      # int
    assert value["flag"]["x"] == "{{tasks.maybe.outputs.result}}"       # Optional[float]
    assert value["pick"]["ok"] == "{{tasks.flag.outputs.result}}"       # bool
    inner = template(manifest, tasks["noisy-2"]["template"])["dag"]["tasks"][0]  # the map runs in a DAG of its own
    assert {p["name"]: p["value"] for p in inner["arguments"]["parameters"]}["n"] == "{{item}}"
    # a map gathers parameters; the tag tells the step it gets Argo's list of the items' JSON texts
    assert value["total"]["xs"] == "fp-each-json:{{tasks.noisy-2.outputs.parameters.return}}"
    outs = {p["name"]: p["valueFrom"]["parameter"] for p in template(manifest, "chain")["outputs"]["parameters"]}
    assert outs["w"] == "{{tasks.word.outputs.parameters.return}}"     # str: may be long, stays a parameter
    assert outs["answer"] == "{{tasks.pick.outputs.result}}"           # a Literal is short
    # every template still declares its output parameter (a map gathers it; a skipped step's fallback reads it)
    for name in ("noisy", "maybe", "flag", "pick", "word", "many"):
        assert [p["name"] for p in template(manifest, name)["outputs"]["parameters"]] == ["return"]
    assert "outputs" not in template(manifest, "nothing")


def test_prints_go_to_stderr_and_stdout_is_only_the_result(user_module, tmp_path):
    m = user_module(OPS)
    run = run_checked(m.chain, tmp_path, n=3)
    assert run.result() == {"a": 30, "q": 7.5, "ok": True, "answer": "yes", "w": "n=30", "sum": 30}
    steps = run.path / "steps"
    assert (steps / "noisy" / "stdout").read_text() == "30\n"
    err = (steps / "noisy" / "stderr").read_text()
    for line in ("python print 3\n", "42\nno newline at the end\nC-level write to fd 1\n", "child process\n",
                 "to stderr\n"):
        assert line in err
    assert err.index("python print") < err.index("C-level") < err.index("child process") < err.index("to stderr")
    assert (steps / "maybe" / "stdout").read_text() == "7.5\n"
    # a value that is not short prints nothing to stdout; its prints still go to stderr
    assert (steps / "word" / "stdout").read_text() == ""
    assert (steps / "word" / "stderr").read_text() == "word 30\n"
    assert (steps / "nothing" / "stdout").read_text() == ""
    assert json.loads((steps / "noisy" / "step.json").read_text())["outputs"]["parameters"]["return"] == "30"


def test_the_step_script_prints_its_result_when_run_by_hand(user_module, tmp_path):
    """A user rerunning a step script by hand sees the result on stdout and the prints on stderr."""
    m = user_module(OPS)
    script = tmp_path / "maybe.py"
    script.write_text(m.maybe.script())
    root = tmp_path / "root"
    (root / "tmp" / "flowpack" / "params").mkdir(parents=True)
    (root / "tmp" / "flowpack" / "params" / "n").write_text("6")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                          env={"FLOWPACK_ROOT": str(root), "PATH": "/usr/bin:/bin"})
    assert json.loads(done.stdout) == 1.5 and done.stdout == "1.5\n"
    assert (root / "tmp" / "flowpack" / "outputs" / "parameters" / "return").read_text() == "1.5\n"
