"""A value arrives as its producer returned it, typed by the consumer's annotation, and every parameter text is one
Argo can carry: control bytes, text that looks like flowpack's marker or codec tags, str into Optional[str] or
Union inputs, Optional[str] into str, and a map's fan-in in both of Argo's aggregate forms."""

from __future__ import annotations

import json
import sys
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from both_engines import argo_result  # noqa: E402
from fixtures_docker import docker_client  # noqa: E402,F401  (pytest fixture)
from flowpack._engine import _gojson as gojson  # noqa: E402
from flowpack._types import MARKER, TAGS  # noqa: E402
from helpers import run_checked, write_module  # noqa: E402

_WORK = Path(tempfile.mkdtemp(prefix="fp-fidelity-"))
_modules: dict[str, object] = {}

# ops giving a text as str and as Optional[str] (or None)
GIVE = '''
from typing import Optional, Union
import flowpack as fp


@fp.op
def give(s: str) -> str:
    return s


@fp.op
def give_opt(s: str, none: bool = False) -> Optional[str]:
    return None if none else s
'''

OPS = GIVE + '''

@fp.op
def give_list(s: str) -> list:
    return [s, {s: [s]}, 1]


@fp.op
def take_str(s: str) -> str:
    return s


@fp.op
def take_opt(s: Optional[str]) -> list:
    return [type(s).__name__, s]


@fp.op
def take_union(s: Union[str, int]) -> list:
    return [type(s).__name__, s]


@fp.op
def take_any(s: "object") -> list:
    return [type(s).__name__, s]


@fp.op
def take_list(v: list) -> list:
    return v


@fp.workflow
def chain(s: str):
    g = give(s)
    o = give_opt(s)
    return {"str": take_str(g), "opt": take_opt(g), "union": take_union(g), "pickled": take_any(g),
            "opt_to_str": take_str(o), "opt_to_opt": take_opt(o), "list": take_list(give_list(s)),
            "plain": g}


@fp.op
def take_str_typed(s: str) -> list:
    return [type(s).__name__, s]


@fp.workflow
def none_to_str():
    return {"s": take_str_typed(give_opt("x", none=True)), "o": take_opt(give_opt("x", none=True))}


@fp.op
def num(x: int) -> int:
    return x * x


@fp.op
def word(x: str) -> str:
    return x


@fp.op
def maybe(x: str) -> Optional[str]:
    return None if x == "none" else x


@fp.op
def obj(x: int) -> dict:
    return {"x": x, "f": [0.5, 1.0]}


@fp.op
def ints(v: list[int]) -> list:
    return [[type(x).__name__, x] for x in v]


@fp.op
def strs(v: list[str]) -> list:
    return v


@fp.op
def opts(v: list[Optional[str]]) -> list:
    return v


@fp.op
def dicts(v: list[dict]) -> list:
    return v


@fp.op
def floats(v: list[list[float]]) -> list:
    return [[type(x).__name__ for x in row] for row in v]


@fp.op
def pair(x: int) -> list:
    return [x / 2, float(x)]


@fp.op
def listed(words: list) -> list:
    return words


@fp.workflow
def fan_in(words: list):
    words = listed(words)  # a step's list output: its strings travel marked one by one, so Argo can loop over it
    return {"ints": ints(num.map(x=[1, 2, 3])), "strs": strs(word.map(x=words)), "opts": opts(maybe.map(x=words)),
            "dicts": dicts(obj.map(x=[1, 2])), "floats": floats(pair.map(x=[1, 2]))}
'''


def ops():
    if "ops" not in _modules:
        _modules["ops"] = write_module(_WORK / "src", OPS)
    return _modules["ops"]


def argo_can_carry(text: str) -> bool:
    """Go's strconv.Quote, then json.Valid (FIDELITY.md): \\x escapes (C0 controls other than \\b \\f \\n \\r \\t, DEL),
    \\a, \\v and \\U escapes (unprintable characters beyond the BMP) make the replaced template invalid JSON."""
    for c in text:
        o = ord(c)
        if (o < 0x20 and c not in "\b\f\n\r\t") or o == 0x7f:
            return False
        if o > 0xFFFF and unicodedata.category(c)[0] not in "LMNPS":
            return False
    return "{{" not in text


def _all_parameter_texts(run) -> list[str]:
    texts = []
    for step_json in (run.path / "steps").rglob("step.json"):
        rec = json.loads(step_json.read_text())
        texts += list(((rec.get("outputs") or {}).get("parameters") or {}).values())
        texts += list(((rec.get("inputs") or {}).get("parameters") or {}).values())
    return texts


NASTY = ["\x1b[31mred\x1b[0m", "nul\x00byte", "del\x7f", "bell\x07", MARKER + "aGVsbG8=", MARKER, "fp-text:x",
         "fp-json:1", "fp-each-json:[1]", "123", "null", "007", '"quoted"', "[1, 2]", "{\"a\": 1}", "true",
         "{{workflow.name}}", "x\U000f0000y", "emoji 😀", "", "\n", "a\rb", "fp-pickle-b64:gAR9lC4="]


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@example(NASTY[0])
@given(st.sampled_from(NASTY) | st.text(max_size=40))
def test_text_arrives_exactly_through_every_codec_and_argo_could_carry_it(s):
    run = run_checked(ops().chain, _WORK / "runs", s=s)
    out = run.result()
    assert out["str"] == s and out["plain"] == s
    assert out["opt"] == ["str", s] and out["union"] == ["str", s] and out["pickled"] == ["str", s]
    assert out["opt_to_str"] == s and out["opt_to_opt"] == ["str", s]
    assert out["list"] == [s, {s: [s]}, 1]
    bad = [t for t in _all_parameter_texts(run) if not argo_can_carry(t)]
    assert not bad, bad


def test_none_from_an_optional_output_arrives_as_none(tmp_path):
    out = run_checked(ops().none_to_str, tmp_path).result()
    assert out == {"s": ["NoneType", None], "o": ["NoneType", None]}


def test_map_fan_in_is_typed_by_the_consumers_element_type(tmp_path):
    words = ["007", "null", "none", "[1, 2]", "\x1b", MARKER + "x", "1.50"]
    run = run_checked(ops().fan_in, tmp_path, words=words)
    out = run.result()
    assert out["ints"] == [["int", 1], ["int", 4], ["int", 9]]
    assert out["strs"] == words  # Argo gathers them as strings: "007" stays "007", "null" stays "null"
    assert out["opts"] == [w if w != "none" else None for w in words]
    assert out["dicts"] == [{"x": 1, "f": [0.5, 1.0]}, {"x": 2, "f": [0.5, 1.0]}]
    assert out["floats"] == [["float", "float"], ["float", "float"]]  # Argo's fan-in gave [[0.5,1],[1,2]]
    bad = [t for t in _all_parameter_texts(run) if not argo_can_carry(t)]
    assert not bad, bad


def test_a_str_map_whose_items_all_look_like_json_lists_still_gathers_text(tmp_path):
    """Argo decodes the items when every one is a JSON list or object: the consumer gets them back as text
    (compact JSON: Go's encoding of the decoded item)."""
    out = run_checked(ops().fan_in, tmp_path, words=["[1,2]", "{\"a\":[true]}"]).result()
    assert out["strs"] == ["[1,2]", "{\"a\":[true]}"]


@pytest.mark.parametrize("tag", sorted(TAGS))
def test_literal_text_beginning_with_a_codec_tag_arrives_unchanged(tmp_path, tag):
    out = run_checked(ops().chain, tmp_path, s=tag + "[1]").result()
    assert out["str"] == tag + "[1]" and out["opt"] == ["str", tag + "[1]"]


def test_control_bytes_and_marker_text_arrive_exactly_in_containers(tmp_path, docker_client):
    from flowpack._engine.docker import DockerEngine

    s = "\x1b[1mbold\x1b[0m\x00\x7f" + MARKER + "x"
    run = ops().chain.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client), s=s)
    out = run.result()
    assert out["str"] == s and out["opt"] == ["str", s] and out["opt_to_str"] == s and out["list"] == [s, {s: [s]}, 1]
    assert all(argo_can_carry(t) for t in _all_parameter_texts(run))


# ops telling the type a map's item arrived as: Union[str, int], Optional[str], unannotated (pickled)
TYPED = '''
from typing import Optional, Union
import flowpack as fp


@fp.op
def u(x: Union[str, int]) -> list:
    return [type(x).__name__, x]


@fp.op
def o(x: Optional[str]) -> list:
    return [type(x).__name__, x]


@fp.op
def p(x: "object") -> list:
    return [type(x).__name__, x]
'''

ITEMS = TYPED + '''

@fp.op
def s(x: str) -> str:
    return x


@fp.workflow
def items():
    values = ["123", 4, "null", None, "abc", "[1]", "\\x1b", "fp-b64:eA=="]
    texts = ["123", "null", "abc", "[1]", "fp-json:1"]
    return {"union": u.map(x=values), "opt": o.map(x=[v for v in values if not isinstance(v, int)]),
            "pickled": p.map(x=values), "str": s.map(x=texts)}
'''


def test_literal_string_map_items_stay_strings_for_inputs_that_take_more_than_text(user_module, tmp_path):
    out = run_checked(user_module(ITEMS).items, tmp_path).result()
    values = ["123", 4, "null", None, "abc", "[1]", "\x1b", "fp-b64:eA=="]
    assert out["union"] == [[type(v).__name__, v] for v in values]
    assert out["pickled"] == [[type(v).__name__, v] for v in values]
    assert out["opt"] == [[type(v).__name__, v] for v in values if not isinstance(v, int)]
    assert out["str"] == ["123", "null", "abc", "[1]", "fp-json:1"]


RUNTIME = TYPED + '''

@fp.op
def mixed(words: list) -> list:
    return list(words)


@fp.op
def texts(words: list) -> list[str]:
    return [w if isinstance(w, str) else str(w) for w in words]


@fp.op
def s(x: str) -> list:
    return [type(x).__name__, x]


@fp.op
def w(x: str) -> str:
    return x


@fp.workflow
def runtime_items(words: list):
    m, t = mixed(words), texts(words)
    return {"mixed_union": u.map(x=m), "mixed_pickled": p.map(x=m), "mixed_str": s.map(x=m),
            "text_union": u.map(x=t), "text_opt": o.map(x=t), "text_pickled": p.map(x=t), "text_str": s.map(x=t),
            "gathered_union": u.map(x=w.map(x=t)),
            "literal_union": u.map(x=["123", "null"]), "literal_opt": o.map(x=["[1]", " 7 "])}
'''

JSONISH = ["123", "null", "true", "[1]", '{"a": 1}', '"quoted"', " 7 ", "1e5", "-0", "abc", "\x1b", "fp-b64:eA==",
           "fp-json:1", "fp-text:[2]"]


def _runtime_expected(words: list) -> dict:
    as_text = [w if isinstance(w, str) else str(w) for w in words]
    return {"mixed_union": [[type(w).__name__, w] for w in words],
            "mixed_pickled": [[type(w).__name__, w] for w in words],
            "mixed_str": [["str", w if isinstance(w, str) else json.dumps(w, separators=(",", ":"))] for w in words],
            "text_union": [["str", w] for w in as_text], "text_opt": [["str", w] for w in as_text],
            "text_pickled": [["str", w] for w in as_text], "text_str": [["str", w] for w in as_text],
            "gathered_union": [["str", w] for w in _gathered(as_text)],
            "literal_union": [["str", "123"], ["str", "null"]], "literal_opt": [["str", "[1]"], ["str", " 7 "]]}


def _gathered(texts: list[str]) -> list[str]:
    """Texts as a map's fan-in gives them: when every one is JSON-object or -list text, Argo decodes them and they
    come back as Go encodes them (compact, keys sorted, numbers as float64); otherwise exactly."""
    try:
        values = [json.loads(t) for t in texts]
    except ValueError:
        return texts
    if not all(isinstance(v, (list, dict)) for v in values):
        return texts
    return [gojson.marshal(gojson.decode(t)) for t in texts]


def test_string_items_of_a_run_time_list_stay_strings_locally_and_on_argos_controller(user_module, tmp_path):
    """Argo pastes a loop's string item bare ("123" and 123 both become 123): a list of text only (`list[str]`)
    tags its items as text in the map; a list that may hold both writes its JSON-looking strings protected."""
    import argo_harness

    wf = user_module(RUNTIME).runtime_items
    words = [*JSONISH, 4, 2.5, True, [1, "2"], {"k": "123"}]
    local = run_checked(wf, tmp_path, words=words)
    expected = _runtime_expected(words)
    assert local.result() == expected
    argo = argo_harness.run(wf.render(words=words), tmp_path / "store", timeout=180)
    assert argo.phase == "Succeeded", {n.display_name: n.message for n in argo.nodes if n.message}
    assert argo_result(local, argo) == expected


def _json_texts():
    scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=4))
    values = st.recursive(scalars, lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=2), c,
                                                                                        max_size=2), max_leaves=4)
    space = st.sampled_from(["", " ", "\n", "\t"])
    return st.tuples(space, values.map(json.dumps), space).map("".join)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@example("123")
@example(" null")
@given(_json_texts())
def test_any_text_that_reads_as_json_arrives_as_text_through_run_time_and_literal_maps(s):
    """Property: text that JSON would read as a number, null, a boolean, a list or an object reaches a map's items
    typed `Union[str, int]`, `Optional[str]` and unannotated (pickled) exactly, as text."""
    wf = write_module(_WORK / "src", RUNTIME).runtime_items
    out = run_checked(wf, _WORK / "runs", words=[s, s]).result()
    assert out["mixed_union"] == [["str", s]] * 2 and out["mixed_pickled"] == [["str", s]] * 2
    assert out["text_union"] == [["str", s]] * 2 and out["text_opt"] == [["str", s]] * 2
    assert out["text_pickled"] == [["str", s]] * 2 and out["mixed_str"] == [["str", s]] * 2
    assert out["text_str"] == [["str", s]] * 2 and out["gathered_union"] == [["str", g] for g in _gathered([s, s])]


CROSSED = GIVE + '''

@fp.op
def opt_default(s: Optional[str] = "fallback") -> list:
    return [type(s).__name__, s]


@fp.op
def str_default(s: str = "fallback") -> list:
    return [type(s).__name__, s]


@fp.op
def union_default(s: Union[str, dict] = {"k": "}} {{x}} fp-json:1"}) -> list:
    return [type(s).__name__, s]


@fp.workflow
def crossed(s: str, mode: str):
    g = give(s).when(mode == "run")
    o = give_opt(s).when(mode == "run")
    n = give_opt(s, none=True).when(mode == "run")
    return {"opt": opt_default(g), "str": str_default(o), "none": str_default(n), "union": union_default(g)}
'''


def test_a_crossed_codec_wire_keeps_its_tag_when_it_can_fall_back_to_a_default(user_module, tmp_path):
    """str into Optional[str] and Optional[str] into str, from a step that may be skipped: the value that ran
    arrives as its producer returned it, and the default as the consumer's own value, locally and on Argo."""
    import argo_harness

    wf = user_module(CROSSED).crossed
    ran = {"opt": ["str", "123"], "str": ["str", "123"], "none": ["NoneType", None], "union": ["str", "123"]}
    skipped = {"opt": ["str", "fallback"], "str": ["str", "fallback"], "none": ["str", "fallback"],
               "union": ["dict", {"k": "}} {{x}} fp-json:1"}]}
    for mode, expected in (("run", ran), ("skip", skipped)):
        local = run_checked(wf, tmp_path / mode, s="123", mode=mode)
        assert local.result() == expected, mode
        argo = argo_harness.run(wf.render(s="123", mode=mode), tmp_path / mode / "store", timeout=180)
        assert argo.phase == "Succeeded", {n.display_name: n.message for n in argo.nodes if n.message}
        assert argo_result(local, argo) == expected, mode
