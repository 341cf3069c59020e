"""Image specs come from what capture found (ImageFacts), for a workflow and for its manifest alone (issue 15.3).

No daemon is needed: a spec is what would be built, and these tests compare specs, never images.
"""

from __future__ import annotations

import copy
import json

import pytest

import flowpack as fp
from flowpack._capture_facts import IMAGES_ANNOTATION, ImageFacts
from flowpack._images_build import image_specs

OPS = '''
import yaml
import flowpack as fp


class Box:
    def __init__(self, v):
        self.v = v


@fp.op
def dump(n: int) -> str:
    return yaml.safe_dump({"n": n})


@fp.op
def boxed(v: int) -> Box:
    return Box(v)


@fp.op(packages=["six==1.17.0"])
def declared(n: int) -> int:
    return n + 1


@fp.op
def plain(n: int) -> int:
    return n * 2


shout = fp.shell("echo -n $n > /tmp/n.txt", name="shout", inputs={"n": int},
                 outputs={"n": fp.Parameter("/tmp/n.txt", int)})


@fp.workflow
def mixed(n: int):
    return {"d": dump(n), "b": boxed(plain(n)), "s": declared(shout(n=n).n)}


@fp.workflow
def maps():  # each map runs a form of its op with a template of its own (tolerant, batched)
    return {"t": declared.map(n=[1, 2], tolerate=1), "b": dump.map(n=[1, 2, 3], batch=2)}
'''


def _names(spec) -> list[str]:
    return [p.split("==")[0] for p in spec.packages]


def test_a_manifest_alone_gives_the_specs_its_workflow_gives(user_module):
    m = user_module(OPS)
    from_ops, images = image_specs(m.mixed)
    manifest = m.mixed.render(n=1)
    from_manifest, manifest_images = image_specs(manifest)
    assert from_manifest == from_ops and manifest_images == images
    assert _names(from_ops["dump"]) == ["PyYAML"] and _names(from_ops["boxed"]) == ["cloudpickle"]
    assert from_ops["declared"].packages == ("six==1.17.0",)  # the op's own packages travel in the facts too
    assert from_ops["plain"] is None and from_ops["shout"] is None  # nothing to add: they keep their image
    facts = json.loads(manifest["metadata"]["annotations"][IMAGES_ANNOTATION])
    assert set(facts) == {"dump", "boxed", "declared", "plain"}  # Python ops only
    assert ImageFacts.from_json(facts["dump"], "dump") == m.dump.image_facts() == ImageFacts(("yaml",), False, ())


def test_a_maps_own_template_gets_its_ops_image(user_module):
    m = user_module(OPS)
    from_ops, images = image_specs(m.maps)
    assert (from_ops, images) == image_specs(m.maps.render())
    forms = [name for name in from_ops if name not in ("declared", "dump")]
    assert forms and all(from_ops[name] is not None for name in forms)  # each built like its op: packages, imports


def test_specs_never_come_from_the_script_text(user_module):
    m = user_module(OPS)
    manifest = m.mixed.render(n=1)
    edited = copy.deepcopy(manifest)
    for tpl in edited["spec"]["templates"]:
        if "script" in tpl and tpl["name"] == "plain":
            tpl["script"]["source"] = "import yaml\nimport cloudpickle\n" + tpl["script"]["source"]
    assert image_specs(edited) == image_specs(manifest)  # the annotation decides, not what the script imports
    del edited["metadata"]["annotations"][IMAGES_ANNOTATION]
    specs, images = image_specs(edited)  # a manifest flowpack did not render: every template keeps its image
    assert set(specs.values()) == {None} and images["dump"] == m.dump.image


@pytest.mark.parametrize("bad, match", [
    ("not json", "is not JSON"),
    ('["dump"]', "not a JSON object"),
    ('{"dump": {"modules": "yaml", "pickles": false, "packages": []}}', "template 'dump'"),
])
def test_a_broken_facts_annotation_is_a_clear_error(user_module, bad, match):
    m = user_module(OPS)
    manifest = m.mixed.render(n=1)
    manifest["metadata"]["annotations"][IMAGES_ANNOTATION] = bad
    with pytest.raises(fp.ImageBuildError, match=match):
        image_specs(manifest)
