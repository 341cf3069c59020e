"""Big values (issue 16.11): a value whose text is over fp.BIG_VALUE (128 KiB) travels as an artifact, its twin,
so the workflow Argo keeps as one object stays small, and the step gets the same value with the same type.

Literal arguments and workflow parameters are uploaded by content at build time; a step's output is written as an
artifact at run time when every step reading it can take one. Each case runs on the local engine and on Argo's own
controller (the harness, every pinned Argo version), which must end the same way (phases, outputs)."""

from __future__ import annotations

import json
import warnings

import pytest

import flowpack as fp
from argo_harness import Harness
from both_engines import run_both
from fixtures_docker import docker_client  # noqa: F401  (a pytest fixture)
from helpers import dag_tasks, render_checked, template

OPS = '''
import hashlib
import json

import flowpack as fp

BIG = list(range(170_000))                   # just over 1 MiB of JSON text
TEXT = "é{{x}}\\x1b[1m" * 20_000             # 200,000 characters Argo can't carry as they are (encoded)


def fingerprint(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16] + ":" + type(value).__name__


@fp.op
def digest(xs: list, s: str = "") -> str:
    return fingerprint(xs) + "/" + fingerprint(s)


@fp.op
def each(x: int, table: dict) -> str:
    return str(x) + "/" + fingerprint(table)


@fp.op
def make(n: int) -> str:
    return "y" * n


@fp.op
def numbers(n: int) -> list:
    return list(range(n))


@fp.op
def length(s: str) -> int:
    return len(s)


@fp.op
def count(xs: list, s: str = "") -> str:
    return f"{len(xs)}:{sum(xs)}:{len(s)}"


@fp.workflow
def literal():
    return digest(BIG, TEXT)


@fp.workflow
def mapped():
    return each.map(x=[1, 2, 3], table={"rows": BIG})


@fp.workflow
def batched():
    return each.map(x=[1, 2, 3], table={"rows": BIG}, batch=2)


@fp.workflow
def param(xs: list = BIG, s: str = TEXT):
    return digest(xs, s)


@fp.workflow
def in_text(s: str = "y" * 200_000):
    return length(f"<{s}>")


@fp.workflow
def at_run_time(n: int = 10):
    s = make(n)
    return count(numbers(n), s), length(s)


@fp.workflow
def returned(n: int = 10):
    return make(n)
'''


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWPACK_CACHE_DIR", str(tmp_path / "cache"))  # where big values are kept for upload


def _expected(m, xs, s="") -> str:
    return m.fingerprint(xs) + "/" + m.fingerprint(s)


def _quietly(wf, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fp.BigValueWarning)
        return wf.build(**params)


# -------------------------------------------------------------------------------------------------- at build time
def test_a_1_mib_list_stays_out_of_the_manifest_and_arrives_exactly(user_module, tmp_path):
    m = user_module(OPS)
    assert len(json.dumps(m.BIG, separators=(",", ":"))) > 1 << 20
    with pytest.warns(fp.BigValueWarning) as caught:
        manifest = render_checked(m.literal)
    assert len(json.dumps(manifest)) < 64 * 1024
    messages = [str(w.message) for w in caught]
    assert any("op 'digest' argument 'xs': the value is 1.0 MiB of text, over 128 KiB" in t for t in messages)
    assert any("op 'digest' argument 's'" in t for t in messages)
    assert all('warnings.filterwarnings("ignore", category=fp.BigValueWarning)' in t for t in messages)
    task = dag_tasks(manifest)["digest"]
    params = {p["name"]: p["value"] for p in task["arguments"]["parameters"]}
    assert params["xs"].startswith("fp-big:") and len(params["xs"]) < 100
    twins = {a["name"]: a for a in task["arguments"]["artifacts"]}
    assert twins["fp-big-xs"]["s3"]["key"].startswith("flowpack/inputs/")
    inputs = {a["name"]: a for a in template(manifest, "digest")["inputs"]["artifacts"]}
    assert inputs["fp-big-xs"] == {"name": "fp-big-xs", "path": "/tmp/flowpack/big/inputs/xs", "optional": True}
    # the step gets the same list (a list, not text) and the same text, exactly
    with pytest.warns(fp.BigValueWarning):
        run = m.literal.run(run_dir=tmp_path / "runs")
    assert run.result() == _expected(m, m.BIG, m.TEXT)
    step = next(s for s in run.steps.values() if s["name"] == "digest")
    assert step["phase"] == "Succeeded"


def test_a_value_under_the_threshold_stays_a_parameter(user_module):
    m = user_module(OPS)
    small = list(range(100))

    @fp.workflow
    def small_list():
        return m.digest(small)

    with warnings.catch_warnings():
        warnings.simplefilter("error", fp.BigValueWarning)
        manifest = render_checked(small_list)
    task = dag_tasks(manifest)["digest"]
    assert {p["name"]: p["value"] for p in task["arguments"]["parameters"]}["xs"] == json.dumps(small,
                                                                                                separators=(",", ":"))
    assert "artifacts" not in task["arguments"]
    assert not [a for a in template(manifest, "digest")["inputs"]["artifacts"] if a["name"].startswith("fp-big")]


def test_a_big_workflow_parameter_read_only_by_python_ops_travels_as_an_artifact(user_module, tmp_path):
    m = user_module(OPS)
    with pytest.warns(fp.BigValueWarning, match=r"workflow 'param': parameter 'xs': the value is 1\.0 MiB"):
        manifest = render_checked(m.param)
    assert len(json.dumps(manifest)) < 64 * 1024
    values = {p["name"]: p["value"] for p in manifest["spec"]["arguments"]["parameters"]}
    assert values["xs"].startswith("fp-big:") and values["s"].startswith("fp-big:")
    with pytest.warns(fp.BigValueWarning):
        assert m.param.run(run_dir=tmp_path / "runs").result() == _expected(m, m.BIG, m.TEXT)


def test_a_big_workflow_parameter_argo_must_read_stays_inside_and_says_why(user_module, tmp_path):
    m = user_module(OPS)
    with pytest.warns(fp.BigValueWarning, match=r"parameter 's'.* stays inside the workflow .* text"):
        manifest = render_checked(m.in_text)
    values = {p["name"]: p["value"] for p in manifest["spec"]["arguments"]["parameters"]}
    assert values["s"] == "y" * 200_000
    with pytest.warns(fp.BigValueWarning):
        assert m.in_text.run(run_dir=tmp_path / "runs").result() == 200_002


def test_a_big_literal_given_to_a_sub_workflow_stays_inside_and_says_why(user_module, tmp_path):
    m = user_module(OPS + '''

@fp.workflow
def inner(s: str):
    return length(s)


@fp.workflow
def outer():
    return inner("y" * 200_000)
''')
    with pytest.warns(fp.BigValueWarning, match=r"argument 's'.* stays inside .* sub-workflow 'inner' takes it"):
        manifest = render_checked(m.outer)
    assert {p["name"]: p["value"] for p in dag_tasks(manifest)["inner"]["arguments"]["parameters"]}["s"] == \
        "y" * 200_000
    with pytest.warns(fp.BigValueWarning):
        assert m.outer.run(run_dir=tmp_path / "runs").result() == 200_000


def test_a_big_pickled_literal_is_uploaded_instead_of_written_into_the_manifest(user_module, tmp_path):
    m = user_module(OPS + '''

@fp.op
def size(blob: bytes) -> int:
    return len(blob)


@fp.workflow
def pickled():
    return size(bytes(range(256)) * 1024)
''')
    with pytest.warns(fp.BigValueWarning, match="op 'size' argument 'blob'"):
        manifest = render_checked(m.pickled)
    [art] = dag_tasks(manifest)["size"]["arguments"]["artifacts"]
    assert art["name"] == "blob" and "raw" not in art and art["s3"]["key"].startswith("flowpack/inputs/")
    assert len(json.dumps(manifest)) < 64 * 1024
    with pytest.warns(fp.BigValueWarning):
        assert m.pickled.run(run_dir=tmp_path / "runs").result() == 256 * 1024


def test_on_argo_a_stores_prefix_reaches_the_keys_of_uploaded_values_and_files(user_module, tmp_path):
    """Argo reads the cluster's bucket; the store writes each upload under its prefix, so every key-only upload a
    task names (a big literal's twin, a local file passed to an op) gets the prefix; keys Argo writes do not."""
    from flowpack._argo._prepare import locate

    m = user_module(OPS + '''

from pathlib import Path


@fp.op
def size(p: Path) -> int:
    return p.stat().st_size
''')
    data = tmp_path / "data.txt"
    data.write_text("x")

    @fp.workflow
    def uploads():
        return m.digest(m.BIG), m.size(data)

    built = _quietly(uploads)
    store = fp.S3(endpoint="127.0.0.1:9", bucket="flows", prefix="team-a", access_key="a", secret_key="b",
                  secure=False)
    located = dag_tasks(locate(built.manifest, store=store))
    keys = [a["s3"]["key"] for t in ("digest", "size") for a in located[t]["arguments"]["artifacts"]]
    assert len(keys) == 2 and all(k.startswith("team-a/flowpack/inputs/") for k in keys)
    assert sorted(k[len("team-a/"):] for k in keys) == sorted(built.uploads)


def test_text_that_begins_like_the_marker_arrives_as_it_is(user_module, tmp_path):
    m = user_module(OPS)

    @fp.workflow
    def lookalike(s: str = "fp-big:12:" + "0" * 64):
        return m.length(s)

    assert lookalike.run(run_dir=tmp_path / "runs").result() == 10 + 64


# ---------------------------------------------------------------------------------------------------- at run time
def test_an_output_read_only_by_python_ops_may_travel_as_an_artifact(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.at_run_time)
    tasks = dag_tasks(manifest)
    make = tasks["make"]
    assert make["arguments"]["artifacts"] == [{"name": "fp-big", "raw": {"data": "return"}}]
    assert {"name": "fp-big-s", "from": "{{tasks.make.outputs.artifacts.fp-big-return}}", "optional": True} in \
        tasks["count"]["arguments"]["artifacts"]
    assert {"name": "fp-big-s", "from": "{{tasks.make.outputs.artifacts.fp-big-return}}", "optional": True} in \
        tasks["length"]["arguments"]["artifacts"]
    outputs = template(manifest, "make")["outputs"]["artifacts"]
    assert outputs == [{"name": "fp-big-return", "path": "/tmp/flowpack/big/outputs/return", "optional": True,
                        "archive": {"none": {}}}]
    # returned by the workflow: Argo reads the parameter itself, so it stays one
    returned = render_checked(m.returned)
    assert "artifacts" not in dag_tasks(returned)["make"].get("arguments", {})
    assert "artifacts" not in (template(returned, "make").get("outputs") or {})


def test_an_output_beside_a_file_may_travel_as_an_artifact(user_module, tmp_path):
    m = user_module(OPS + '''
import pathlib
from typing import NamedTuple


class Made(NamedTuple):
    p: pathlib.Path
    xs: list


@fp.op
def made(n: int) -> Made:
    pathlib.Path("out.txt").write_text("file")
    return Made(pathlib.Path("out.txt"), list(range(n)))


@fp.op
def read(p: pathlib.Path) -> str:
    return p.read_text()


@fp.workflow
def both(n: int):
    out = made(n)
    return read(out.p), count(out.xs)
''')
    manifest = render_checked(m.both, n=3)
    assert dag_tasks(manifest)["made"]["arguments"]["artifacts"] == [{"name": "fp-big", "raw": {"data": "xs"}}]
    run = m.both.run(run_dir=tmp_path / "runs", n=100_000)
    assert run.result() == ("file", f"100000:{100_000 * 99_999 // 2}:0")
    outputs = json.loads((run.path / "steps" / "made" / "step.json").read_text())["outputs"]
    assert outputs["parameters"]["xs"].startswith("fp-big:") and "fp-big-xs" in outputs["artifacts"]


@pytest.mark.parametrize("n", [10, 300_000])
def test_a_big_output_runs_as_on_argo(harness: Harness, user_module, tmp_path, n):
    m = user_module(OPS)
    built = _quietly(m.at_run_time, n=n)
    both = run_both(m.at_run_time, {"n": n}, tmp_path, version=harness.version, manifest=built.manifest,
                    uploads=built.uploads)
    assert both.local.result() == (f"{n}:{n * (n - 1) // 2}:{n}", n)
    make, numbers = both.argo.node("make"), both.argo.node("numbers")
    for node in (make, numbers):
        if n > 100_000:  # the value is an artifact: the workflow keeps a marker of its size and digest
            assert node.parameters["return"].startswith("fp-big:") and len(node.parameters["return"]) < 100
            assert set(node.artifacts) == {"fp-big-return"}
        else:
            assert not node.parameters["return"].startswith("fp-big:") and not node.artifacts


def test_a_big_output_argo_must_read_stays_a_parameter_and_the_step_says_so(user_module, tmp_path):
    m = user_module(OPS)
    run = m.returned.run(run_dir=tmp_path / "runs", n=200_000)
    assert run.result() == "y" * 200_000
    [line] = [line.content for line in run.logs("make") if "flowpack:" in line.content]
    assert "flowpack: output 'return' of 200000 bytes stays a parameter: the workflow, a map or a condition" in line


@pytest.mark.parametrize("name", ["literal", "param", "mapped", "batched"])
def test_big_values_given_at_build_time_run_as_on_argo(harness: Harness, user_module, tmp_path, name):
    m = user_module(OPS)
    wf = getattr(m, name)
    built = _quietly(wf)
    assert len(json.dumps(built.manifest)) < 64 * 1024
    with warnings.catch_warnings():  # the local run builds it again
        warnings.simplefilter("ignore", fp.BigValueWarning)
        local = run_both(wf, {}, tmp_path, version=harness.version, manifest=built.manifest,
                         uploads=built.uploads).local
    expected: dict = {"literal": _expected(m, m.BIG, m.TEXT), "param": _expected(m, m.BIG, m.TEXT),
                "mapped": [f"{x}/{m.fingerprint({'rows': m.BIG})}" for x in (1, 2, 3)]}
    expected["batched"] = expected["mapped"]
    assert local.result() == expected[name]


def test_big_values_in_docker(user_module, tmp_path, docker_client):
    from flowpack._engine.docker import DockerEngine

    m = user_module(OPS)
    engine = DockerEngine(run_dir=tmp_path / "runs", client=docker_client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fp.BigValueWarning)
        assert m.literal.run(engine=engine).result() == _expected(m, m.BIG, m.TEXT)
    assert m.at_run_time.run(engine=engine, n=300_000).result() == (f"300000:{300_000 * 299_999 // 2}:300000",
                                                                    300_000)
