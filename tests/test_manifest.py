"""Rendered manifests: valid for Argo's schema, self-consistent, exactly escaped, with valid and unique names."""

from __future__ import annotations

import copy
import json
import warnings

import pytest
import yaml

import flowpack as fp
from flowpack._types import needs_marker
from flowpack._validate import ManifestSizeWarning, check_manifest, manifest_size
from helpers import argo_validator, assert_argo_valid, dag_tasks, render_checked, run_checked, template

K8S_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

OPS = '''
from pathlib import Path
from typing import NamedTuple, Optional
import flowpack as fp


class Pair(NamedTuple):
    left: int
    right: str


@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b


@fp.op
def split(x: int) -> Pair:
    return Pair(x, str(x))


@fp.op
def to_file(s: str) -> Path:
    Path("f").write_text(s)
    return Path("f")


@fp.op
def obj(v, p: Path, q: Optional[float] = None) -> object:
    return v


@fp.op
def nothing(x: int) -> None:
    pass


@fp.workflow
def many(n: int = 3):
    x = add(n)
    for _ in range(5):
        x = add(x, b=2)
    pr = split(x)
    f = to_file(pr.right)
    o = obj(pr.left, f)
    nothing(pr.left)
    return x, o
'''


def test_one_template_per_op_however_many_calls(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.many, n=4)
    names = [t["name"] for t in manifest["spec"]["templates"]]
    assert sorted(names) == sorted(["many", "add", "split", "to-file", "obj", "nothing"])
    assert len(names) == len(set(names))
    tasks = dag_tasks(manifest)
    assert [t for t in tasks if tasks[t]["template"] == "add"] == ["add", "add-2", "add-3", "add-4", "add-5", "add-6"]
    assert manifest["spec"]["entrypoint"] == "many"
    assert manifest["spec"]["arguments"]["parameters"] == [{"name": "n", "value": "4"}]


def test_templates_follow_the_type_table(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.many)
    add = template(manifest, "add")
    # parameter values reach the script as files: one raw artifact per parameter, filled in by Argo
    assert add["inputs"] == {
        "parameters": [{"name": "a"}, {"name": "b", "default": "1"}],
        "artifacts": [
            {"name": "param-a", "path": "/tmp/flowpack/params/a", "raw": {"data": "{{inputs.parameters.a}}"}},
            {"name": "param-b", "path": "/tmp/flowpack/params/b", "raw": {"data": "{{inputs.parameters.b}}"}},
        ]}
    assert add["outputs"] == {
        "parameters": [{"name": "return", "valueFrom": {"path": "/tmp/flowpack/outputs/parameters/return"}}]}
    assert add["script"]["command"] == ["python"]
    assert not any("{{" in e.get("value", "") for e in add["script"].get("env", []))  # no values in env vars
    split = template(manifest, "split")
    assert [p["name"] for p in split["outputs"]["parameters"]] == ["left", "right"]
    to_file = template(manifest, "to-file")
    assert "parameters" not in to_file["outputs"]
    assert [a["name"] for a in to_file["outputs"]["artifacts"]] == ["return"]
    obj = template(manifest, "obj")
    assert [a["name"] for a in obj["inputs"]["artifacts"]] == ["param-q", "v", "p"]
    assert obj["inputs"]["parameters"] == [{"name": "q", "default": "null"}]
    assert obj["outputs"]["artifacts"][0]["archive"] == {"none": {}}
    assert "outputs" not in template(manifest, "nothing")


def test_yaml_and_json_outputs_parse_to_render(user_module):
    m = user_module(OPS)
    rendered = m.many.render(n=7)
    assert yaml.safe_load(m.many.to_yaml(n=7)) == rendered
    assert json.loads(m.many.to_json(n=7)) == rendered
    assert_argo_valid(rendered)


NASTY = [
    "it's \"quoted\"",
    "line one\nline two\n",
    "trailing newlines\n\n\n",
    "\nleading newline",
    "  leading spaces",
    "trailing spaces   ",
    "tab\there",
    "windows\r\nline",
    "{{inputs.parameters.a}}",
    "{{ workflow.name }}",
    "}} {{",
    "yes", "no", "null", "~", "true", "1e3", "0x10", "-", "- item", "key: value", "# comment", "&anchor", "*alias",
    "!tag", "%percent", "@at", "`backtick`", "|", ">", "[1, 2]", "{a: 1}", "'", '"', "\\", "é ü 😀 中文",
    "\u2028line separator\u2029", "\ufeffbom", "\x1b[31mred", "\x07bell", "$(touch /tmp/x) `id` ${HOME}",
    "'''triple'''", '"""triple"""', "",
]


def _default_module(value: str) -> str:
    return f'''
import flowpack as fp

DEFAULT = {value!r}


@fp.op
def echo_default(s: str = DEFAULT) -> str:
    return s


@fp.op
def echo(s: str) -> str:
    return s


@fp.op
def echo_any(v: dict) -> dict:
    return v


@fp.workflow
def via_default():
    return echo_default()


@fp.workflow
def via_param(s: str = DEFAULT):
    return echo(s)


@fp.workflow
def via_literal():
    return echo(DEFAULT)


@fp.workflow
def via_json_literal():
    return echo_any({{"k": DEFAULT, DEFAULT: [DEFAULT]}})
'''


BRACES = ["{{inputs.parameters.a}}", "{{x}}", "{{tasks.echo.outputs.result}}"]  # look like references
NASTY += BRACES


@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_every_value_is_escaped_in_yaml_and_json(user_module, value):
    m = user_module(_default_module(value))
    for given in (None, value + "\n" + value):
        manifest = render_checked(m.via_param) if given is None else render_checked(m.via_param, s=given)
        [arg] = manifest["spec"]["arguments"]["parameters"]
        assert arg["name"] == "s" and _decoded(arg["value"]) == (value if given is None else given)
        assert "{{" not in arg["value"]  # Argo would substitute it again where it is used: it travels encoded
    [default] = template(render_checked(m.via_default), "echo-default")["inputs"]["parameters"]
    [literal] = dag_tasks(render_checked(m.via_literal))["echo"]["arguments"]["parameters"]
    json_literal = dag_tasks(render_checked(m.via_json_literal))["echo-any"]["arguments"]
    if "{{" in value or needs_marker(value):
        # Argo would substitute '{{...}}' and can't carry control bytes: such literals travel encoded, so none of
        # these texts reaches the manifest (test_literals_with_argo_braces_reach_the_op_exactly checks the values)
        assert "{{" not in json.dumps([default, literal, json_literal])
        assert _decoded(default["default"]) == value and _decoded(literal["value"]) == value
        return
    assert default == {"name": "s", "default": value}
    assert literal == {"name": "s", "value": value}
    [param] = json_literal["parameters"]
    assert json.loads(param["value"]) == {"k": value, value: [value]}


def _decoded(text: str) -> str:
    """A parameter value as the step gets it: base64 behind flowpack's marker when it held '{{' or control bytes."""
    from flowpack._types import PARAM_TEXT, decode

    return decode(text, PARAM_TEXT)


BRACED = BRACES + ["{{ workflow.name }}", "}} {{", "{{workflow.name}}", "{{=sprig.upper('x')}}", "{{", "a{{b}}c\n"]


@pytest.mark.parametrize("value", BRACED, ids=range(len(BRACED)))
def test_literals_with_argo_braces_reach_the_op_exactly(user_module, tmp_path, value):
    m = user_module(_default_module(value))
    assert run_checked(m.via_default, tmp_path).result() == value
    assert run_checked(m.via_literal, tmp_path).result() == value
    assert run_checked(m.via_json_literal, tmp_path).result() == {"k": value, value: [value]}


def test_json_literal_with_braces_across_items_renders_and_round_trips(user_module, tmp_path):
    value = "}} {{"  # JSON text of the dict holds '{{","}}', which looks like an Argo reference
    m = user_module(_default_module(value))
    manifest = render_checked(m.via_json_literal)
    assert "{{" not in json.dumps(dag_tasks(manifest)["echo-any"]["arguments"])
    assert run_checked(m.via_json_literal, tmp_path).result() == {"k": value, value: [value]}


def test_shell_steps_refuse_literals_with_argo_braces():
    sh = fp.shell("printf '%s' \"$v\" > /tmp/out", name="sh", inputs={"v": str},
                  outputs={"out": fp.Parameter("/tmp/out")})

    @fp.workflow
    def braced():
        return sh(v="name={{workflow.name}}")

    with pytest.raises(fp.WorkflowBuildError, match=r"'sh'.*'v'.*\{\{"):
        braced.render()

    @fp.workflow
    def plain():
        return sh(v="name=plain")

    render_checked(plain)


NAMES = '''
import flowpack as fp


@fp.op
def a_really_long_function_name_that_goes_on_and_on_well_beyond_the_kubernetes_label_limit_one(x: int) -> int:
    return x


@fp.op
def a_really_long_function_name_that_goes_on_and_on_well_beyond_the_kubernetes_label_limit_two(x: int) -> int:
    return x


@fp.op
def _private__Odd___Name_(x: int) -> int:
    return x


@fp.op
def données_été(x: int) -> int:
    return x


@fp.op
def CamelCase9(x: int) -> int:
    return x


@fp.op(name="My Step! (v2)")
def renamed(x: int) -> int:
    return x


@fp.op
def __(x: int) -> int:
    return x


@fp.workflow
def CamelCase9_workflow_with_a_name_that_is_also_far_too_long_for_any_kubernetes_label(n: int = 1):
    a = a_really_long_function_name_that_goes_on_and_on_well_beyond_the_kubernetes_label_limit_one(n)
    b = a_really_long_function_name_that_goes_on_and_on_well_beyond_the_kubernetes_label_limit_two(a)
    for _ in range(3):
        b = a_really_long_function_name_that_goes_on_and_on_well_beyond_the_kubernetes_label_limit_two(b)
    return _private__Odd___Name_(b), données_été(n), CamelCase9(n), renamed(n), __(n)


@fp.workflow(name="camelcase9")
def same_name_as_op(n: int = 1):
    return CamelCase9(CamelCase9(n))
'''


def test_names_are_sanitised_valid_and_unique(user_module):
    m = user_module(NAMES)
    manifest = render_checked(m.CamelCase9_workflow_with_a_name_that_is_also_far_too_long_for_any_kubernetes_label)
    templates = [t["name"] for t in manifest["spec"]["templates"]]
    tasks = list(dag_tasks(manifest))
    import re

    for name in templates + tasks:
        assert re.match(K8S_NAME, name), name
    assert len(set(templates)) == len(templates) == 8
    assert len(set(tasks)) == len(tasks) == 10
    assert "my-step-v2" in templates
    assert manifest["metadata"]["generateName"].endswith("-")
    assert re.match(K8S_NAME, manifest["metadata"]["generateName"][:-1])  # Kubernetes trims it to 58 + 5 random
    assert re.match(K8S_NAME, manifest["metadata"]["labels"]["flowpack.io/workflow"])
    manifest = render_checked(m.same_name_as_op)
    assert manifest["spec"]["entrypoint"] != "camelcase9"
    assert {t["name"] for t in manifest["spec"]["templates"]} == {"camelcase9", manifest["spec"]["entrypoint"]}


def test_names_that_sanitise_alike_are_kept_unique(user_module, tmp_path):
    m = user_module('''
import flowpack as fp


@fp.op
def foo_bar(x: int) -> int:
    return x


@fp.op
def foo__bar(x: int) -> int:
    return x + 1


@fp.workflow
def both():
    return foo_bar(1), foo__bar(1)
''')
    manifest = render_checked(m.both)
    assert len({t["name"] for t in manifest["spec"]["templates"]}) == 3
    assert run_checked(m.both, tmp_path).result() == (1, 2)  # each call reaches its own op


def test_flowpack_checks_catch_dangling_references(user_module):
    m = user_module(OPS)
    good = render_checked(m.many)
    assert check_manifest(good) == manifest_size(good) > 0

    def broken(edit):
        bad = copy.deepcopy(good)
        edit(bad)
        with pytest.raises(fp.ManifestError):
            check_manifest(bad)

    def entry(bad):
        return template(bad, bad["spec"]["entrypoint"])

    broken(lambda b: entry(b)["dag"]["tasks"][0].update(template="no-such-template"))
    broken(lambda b: b["spec"].update(entrypoint="nowhere"))
    broken(lambda b: entry(b)["dag"]["tasks"][1]["arguments"]["parameters"][0].update(
        value="{{tasks.ghost.outputs.parameters.return}}"))
    broken(lambda b: entry(b)["dag"]["tasks"][1]["arguments"]["parameters"][0].update(
        value="{{tasks.add.outputs.parameters.nope}}"))
    broken(lambda b: entry(b)["dag"]["tasks"][0]["arguments"]["parameters"][0].update(
        value="{{workflow.parameters.undeclared}}"))
    broken(lambda b: template(b, "add")["inputs"]["artifacts"][0]["raw"].update(data="{{inputs.parameters.zzz}}"))
    broken(lambda b: template(b, "add")["inputs"]["parameters"].pop(0))  # task passes an undeclared parameter
    broken(lambda b: entry(b)["dag"]["tasks"][0].update(name="Bad_Name"))
    broken(lambda b: entry(b)["dag"]["tasks"][1].update(depends="missing-task"))


def test_every_rendered_manifest_validates_against_argo_schema(user_module):
    # a sanity check of the validator itself: it rejects a broken manifest
    m = user_module(OPS)
    bad = copy.deepcopy(m.many.render())
    bad["spec"]["templates"][0]["dag"]["tasks"][0]["arguments"]["parameters"][0]["value"] = {"not": "a string"}
    assert list(argo_validator().iter_errors(bad))


BIG = '''
import flowpack as fp

CHUNK = "y" * (100 * 1024)


@fp.op
def echo(s: str) -> str:
    return s


@fp.workflow
def small(s: str = "x"):
    return echo(s)


@fp.workflow
def big():
    return [echo(CHUNK + str(i)) for i in range(9)]
'''


def test_size_is_reported_and_warned_near_argo_limit(user_module):
    m = user_module(BIG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = render_checked(m.small)
    assert 0 < check_manifest(small) == manifest_size(small) < 64 * 1024
    with pytest.warns(ManifestSizeWarning, match=r"KiB.*1 MiB") as record:
        big = m.big.render()
    assert len(record) >= 1
    size = manifest_size(big)
    assert 0.75 * 1024 * 1024 < size < 1024 * 1024
    assert f"{size / 1024:.0f} KiB" in str(record[0].message)
    with pytest.warns(ManifestSizeWarning):
        assert_argo_valid(big)
