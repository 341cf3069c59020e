"""A map's items reach a Python op exactly, typed by its annotation, on every pinned Argo version (issues 12.6, 13).

Argo pastes a string item of a loop into `{{item}}` bare (`"123"` and `123` both arrive as `123`), on v3 with its
JSON escapes (`say \\"hi\\"`, Item.String), and a dict item's text field into `{{item.key}}` with its escapes on every
version. Each case runs on the local engine and on Argo's own controller of every pinned version (the harness), and
both must give the result plain Python gives."""

from __future__ import annotations

import json

import pytest

import flowpack as fp
from argo_harness import Harness
from both_engines import argo_view, run_both
from helpers import dag_tasks, render_checked, template

TEXTS = ['say "hi"', "back\\\\slash", "123", "null", "1.50", "tab\\tin", "é<&>", '{"a": 1}']

OPS = '''
from typing import Union

import flowpack as fp


@fp.op
def kind(s: Union[str, int, None]) -> str:
    return type(s).__name__ + ":" + str(s)


@fp.op
def ident(s: str) -> str:
    return s


@fp.op
def texts() -> list[str]:
    return TEXTS


@fp.op
def mixed() -> list:
    return TEXTS + [7, None]


@fp.op
def rows() -> list[dict]:
    return [{"a": t, "b": i} for i, t in enumerate(TEXTS)]


@fp.op
def pair(a: str, b: int) -> str:
    return f"{a}/{b}"


@fp.op
def join(xs: list) -> str:
    return "|".join(xs)


lister = fp.shell("""printf '%s' '["123", "say \\\\"hi\\\\"", 5, "null"]' > /tmp/out.json""", name="lister",
                  outputs={"xs": fp.Parameter("/tmp/out.json", type=list)})


@fp.workflow
def given(items: list):                          # a bare `list` workflow parameter, mapped directly
    return join(kind.map(s=items))


@fp.workflow
def given_texts(items: list[str]):               # a list of text given to the workflow
    return join(ident.map(s=items))


@fp.workflow
def produced():                                  # a run-time list of text
    return join(ident.map(s=texts()))


@fp.workflow
def produced_mixed():                            # a run-time list of text and other values
    return join(kind.map(s=mixed()))


@fp.workflow
def chained():                                   # a map over the gathered texts of another map
    return join(kind.map(s=ident.map(s=texts())))


@fp.workflow
def spread():                                    # run-time rows: each dict's text field into {{item.a}}
    return join(pair.map(fp.rows(rows())))


@fp.workflow
def from_shell():                                # a shell step's list: it marks no text itself
    return join(kind.map(s=lister().xs))


@fp.workflow
def filtered():                                  # a condition per item compares the item's own text
    return join(ident.map(s=texts()).when((fp.item != 'say "hi"') & (fp.item != "123")))
'''.replace("TEXTS", repr(TEXTS))

GIVEN = TEXTS + [7, None]
CASES = [
    ("given", {"items": GIVEN}, "|".join(f"{type(v).__name__}:{v}" for v in GIVEN)),
    ("given_texts", {"items": TEXTS}, "|".join(TEXTS)),
    ("produced", {}, "|".join(TEXTS)),
    ("produced_mixed", {}, "|".join(f"{type(v).__name__}:{v}" for v in TEXTS + [7, None])),
    ("chained", {}, "|".join(f"str:{t}" for t in TEXTS)),
    ("spread", {}, "|".join(f"{t}/{i}" for i, t in enumerate(TEXTS))),
    ("from_shell", {}, 'str:123|str:say "hi"|int:5|str:null'),
    ("filtered", {}, "|".join(t for t in TEXTS if t not in ('say "hi"', "123"))),
]


@pytest.mark.parametrize("name, params, expected", CASES, ids=[c[0] for c in CASES])
def test_items_arrive_exactly_on_every_argo_version(harness: Harness, user_module, tmp_path, name, params, expected):
    both = run_both(getattr(user_module(OPS), name), params, tmp_path, version=harness.version)
    assert both.local.result() == expected
    assert argo_view(both.argo).outputs["return"] == expected


def test_a_run_time_list_of_text_is_mapped_through_one_encoding_expression(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.produced)
    outer = dag_tasks(manifest)["ident"]
    [items] = [p["value"] for p in outer["arguments"]["parameters"]]
    assert items == ("{{=toJson(map(sprig.fromJson(tasks['texts'].outputs.parameters['return']), (type(#) == "
                     "'string' && !(# startsWith 'fp-b64:') ? 'fp-b64:' + sprig.b64enc(#) : #)))}}")
    [loop] = template(manifest, outer["template"])["dag"]["tasks"]
    assert loop["withParam"] == "{{inputs.parameters.p0}}"
    # a list that may hold numbers keeps the plain withParam: the expression would pass them through float64
    loop = template(render_checked(m.produced_mixed), dag_tasks(render_checked(m.produced_mixed))["kind"]["template"])
    assert loop["dag"]["tasks"][0]["withParam"] == "{{inputs.parameters.p0}}"
    assert dag_tasks(render_checked(m.produced_mixed))["kind"]["arguments"]["parameters"][0]["value"] == \
        "{{tasks.mixed.outputs.parameters.return}}"


def test_a_list_parameter_is_written_protected_only_when_python_ops_alone_read_it(user_module):
    m = user_module(OPS)
    [param] = render_checked(m.given, items=["123", 'say "hi"', 5, "plain"])["spec"]["arguments"]["parameters"]
    written = json.loads(param["value"])
    assert written[2:] == [5, "plain"] and all(s.startswith("fp-b64:") for s in written[:2])
    assert m.given.run(items=["123", 'say "hi"', 5, "plain"]).result() == 'str:123|str:say "hi"|int:5|str:plain'

    echo = fp.shell('echo "$xs"', name="echo", inputs={"xs": list})

    @fp.workflow
    def to_shell(items: list):
        echo(xs=items)
        return m.join(m.kind.map(s=items))

    [param] = render_checked(to_shell, items=["123", 'say "hi"'])["spec"]["arguments"]["parameters"]
    assert json.loads(param["value"]) == ["123", 'say "hi"']  # a shell step would see the encoded text: as given


@pytest.mark.parametrize("item", ['say "hi"', "back\\slash", "tab\there"])
def test_a_shell_map_over_text_argo_v3_would_change_is_refused(item):
    shell = fp.shell('echo "$s"', name="say", inputs={"s": str})

    @fp.workflow
    def over_shell():
        return shell.map(s=["plain", item])

    with pytest.raises(fp.WorkflowBuildError, match=r"which Argo would not pass on exactly to a shell step's loop "
                                                     r"item \(it pastes it with its JSON escape.*on v3\)"):
        over_shell.render()
