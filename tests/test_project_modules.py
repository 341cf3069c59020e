"""Modules of the user's project (a helpers file beside the workflow, a local package) travel inside step scripts,
so `from mylib import f` works in local steps and in containers alike, with classes keeping their module."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flowpack as fp  # noqa: E402
from fixtures_docker import docker_client  # noqa: E402,F401  (pytest fixture)
from flowpack._engine.docker import DockerEngine  # noqa: E402
from flowpack._images_build import image_specs  # noqa: E402
from helpers import run_checked  # noqa: E402


def _write(src: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture
def project(tmp_path, user_module):
    """A project folder: sibling modules and a package with unique names, then the workflow module using them."""
    tag = uuid.uuid4().hex[:8]
    names = {"lib": f"fplib_{tag}", "more": f"fpmore_{tag}", "pkg": f"fppkg_{tag}", "fpmod": f"fpops_{tag}"}
    _write(tmp_path / "src", {
        f"{names['lib']}.py": f'''
            import yaml
            from {names['more']} import SCALE


            class Point:
                def __init__(self, x, y):
                    self.x, self.y = x, y

                def norm1(self):
                    return abs(self.x) + abs(self.y)


            def double(x):
                return SCALE * x
            ''',
        f"{names['more']}.py": "SCALE = 2\n",
        f"{names['pkg']}/__init__.py": "from .maths import triple\n",
        f"{names['pkg']}/maths.py": "def triple(x):\n    return 3 * x\n",
        f"{names['fpmod']}.py": '''
            import flowpack as fp


            def helper(x):
                return x - 1


            OFFSET = 100
            ''',
    })
    source = f'''
        import flowpack as fp
        import {names['pkg']} as pkg
        from {names['lib']} import Point, double
        from {names['fpmod']} import OFFSET, helper


        @fp.op
        def grow(x: int) -> int:
            return pkg.triple(double(x))


        @fp.op
        def make(x: int) -> Point:
            return Point(x, -x)


        @fp.op
        def keep(p):  # imports nothing of the project: the Point reaches it by value
            return p


        @fp.op
        def shift(x: int) -> int:
            return helper(x) + OFFSET


        @fp.workflow
        def proj(n: int = 2):
            g = grow(n)
            return {{"g": g, "p": keep(make(g)), "s": shift(g)}}
        '''
    return user_module(source), names


def test_project_modules_travel_in_the_script_and_keep_their_module(project, tmp_path):
    m, names = project
    run = run_checked(m.proj, tmp_path, n=2)
    out = run.result()
    assert out["g"] == 12 and out["s"] == 111
    lib = sys.modules[names["lib"]]
    assert isinstance(out["p"], lib.Point) and out["p"].norm1() == 24  # the real class, not a by-value copy
    script = m.grow.script()
    # the user's import lines stay; the modules they name travel as source (the package with its submodule)
    assert f"from {names['lib']} import double" in script and f"import {names['pkg']} as pkg" in script
    # the package with its submodule, and the module with the project module it imports in turn
    assert set(_embedded(script)) == {names["pkg"], names["pkg"] + ".maths", names["lib"], names["more"]}
    assert set(_embedded(m.make.script())) == {names["lib"], names["more"]}
    # a module that imports flowpack can't run in a step: the op's helper and constant are copied instead
    shift = m.shift.script()
    assert "def helper(x):" in shift and "OFFSET = 100" in shift and names["fpmod"] not in _embedded(shift)
    assert f"import {names['fpmod']}" not in shift and f"from {names['fpmod']} " not in shift  # (its file name
    # is in the spec's line map, as data: where a traceback's lines come from)
    assert "flowpack" not in "".join(src for _, src in _embedded(shift).values())
    # the image gets what the carried module imports (PyYAML), not the project modules themselves
    assert m.make.image_facts().modules == ("yaml",)


def test_a_step_script_from_a_project_module_runs_without_the_project(project, tmp_path):
    """The script is self-contained: run from an empty folder with no access to the project's files."""
    import subprocess

    m, names = project
    script = tmp_path / "alone" / "grow.py"
    script.parent.mkdir()
    script.write_text(m.grow.script())
    root = tmp_path / "root"
    (root / "tmp/flowpack/params").mkdir(parents=True)
    (root / "tmp/flowpack/params/x").write_text("5")
    done = subprocess.run([sys.executable, "-I", str(script)], cwd=script.parent, capture_output=True, text=True,
                          env={"FLOWPACK_ROOT": str(root)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "30\n"


def test_a_module_object_from_a_project_module_that_imports_flowpack_is_a_clear_error(tmp_path, user_module):
    tag = uuid.uuid4().hex[:8]
    _write(tmp_path / "src", {f"fpops2_{tag}.py": "import flowpack as fp\n\ndef helper(x):\n    return x\n",
                              f"fpmid_{tag}.py": f"from fpops2_{tag} import helper\n\n"
                                                 f"def via(x):\n    return helper(x)\n"})
    m = user_module(f'''
        import flowpack as fp
        import fpops2_{tag} as ops
        from fpmid_{tag} import via


        @fp.op
        def direct(x: int) -> int:
            return ops.helper(x)


        @fp.op
        def indirect(x: int) -> int:
            return via(x)
        ''')
    with pytest.raises(fp.ScriptError, match=r"op 'direct': module 'ops' of your project imports flowpack"):
        m.direct.script()
    with pytest.raises(fp.ScriptError, match=rf"module 'fpops2_{tag}' \(imported by 'fpmid_{tag}'\) of your project"):
        m.indirect.script()


def test_project_modules_in_a_container_and_in_the_image_spec(project, tmp_path, docker_client):
    m, names = project
    manifest = m.proj.render(n=2)
    specs, _ = image_specs(manifest)  # from the manifest alone (its image facts annotation), as for a submitted one
    assert specs["make"] is not None and [p.split("==")[0] for p in specs["make"].packages] == ["cloudpickle", "PyYAML"]
    assert specs["shift"] is None  # it carries no module: its helper was copied, and the base image has all it needs
    run = m.proj.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client), n=2)
    out = run.result()
    assert out["g"] == 12 and out["s"] == 111 and out["p"].norm1() == 24


def _embedded(script: str) -> dict:
    import ast

    for node in ast.parse(script).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_FP_EMBEDDED":
            return ast.literal_eval(node.value)
    return {}
