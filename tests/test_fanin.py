"""Files through maps (issue 16.4): a map of an op returning Path hands the next step a list of paths, and a map runs
over a list of files. Each case runs on the local engine and on Argo's own controller (the harness), which must end
the same way (workflow phase, node phases, outputs); the manifest is the key-only artifact construct of Argo's
map-reduce example (flowpack/_fanin.py)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

import flowpack as fp
from both_engines import local_view, run_both
from fixtures_docker import docker_client  # noqa: F401  (a pytest fixture)
from flowpack._graph import _content_key
from helpers import dag_tasks, render_checked, template

OPS = '''
import io
import tarfile
from pathlib import Path

import flowpack as fp


@fp.op
def make(n: int) -> Path:
    if n < 0:
        raise ValueError("n must not be negative")
    p = Path("out.txt")
    p.write_text("x" * n)
    return p


@fp.op
def make_dir(n: int) -> Path:
    d = Path("d")
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "n.txt").write_text(str(n))
    return d


@fp.op
def make_tarball(n: int) -> Path:
    p = Path("data.tgz")
    with tarfile.open(p, "w:gz") as tar:
        info = tarfile.TarInfo("inner.txt")
        info.size = n
        tar.addfile(info, io.BytesIO(b"y" * n))
    return p


@fp.op
def numbers(n: int) -> list:
    return list(range(1, n + 1))


@fp.op
def sizes(files: list[Path]) -> list:
    return [f.stat().st_size for f in files]


@fp.op
def size(f: Path) -> int:
    return f.stat().st_size


@fp.op
def read_dirs(dirs: list[Path]) -> list:
    return [int((d / "sub" / "n.txt").read_text()) for d in dirs]


@fp.workflow
def fan(ns: list = [3, 1, 2]):
    files = make.map(n=ns)
    return sizes(files), size.map(f=files)


@fp.workflow
def literal_fan():
    return sizes(make.map(n=[4, 0, 2]))


@fp.workflow
def run_time_fan(n: int = 3):
    return sizes(make.map(n=numbers(n)))


@fp.workflow
def folders():
    return read_dirs(make_dir.map(n=[5, 6]))


@fp.workflow
def tarballs():
    return sizes(make_tarball.map(n=[10, 20]))


@fp.workflow
def local_files(files: list[Path]):
    return size.map(f=files)
'''


def test_a_map_of_files_renders_key_only_artifacts(user_module):
    m = user_module(OPS)
    manifest = render_checked(m.literal_fan)
    tasks = dag_tasks(manifest)
    mapped = template(manifest, tasks["make"]["template"])
    [art] = mapped["outputs"]["artifacts"]
    assert art["s3"] == {"key": "{{inputs.parameters.fp-fanin}}/return/{{pod.name}}"}
    assert art["archive"] == {"none": {}}  # a file stays that file, a folder that folder
    assert {"name": "fp-key-return", "valueFrom": {"path": "/tmp/flowpack/outputs/keys/return",
                                                   "default": "{{pod.name}}"}} in mapped["outputs"]["parameters"]
    assert "s3" not in m.make.template()["outputs"]["artifacts"][0]  # a plain call keeps the op's own template
    args = tasks["sizes"]["arguments"]
    assert args["parameters"] == [{"name": "files", "value": "{{tasks.make.outputs.parameters.fp-key-return}}"}]
    assert args["artifacts"] == [{"name": "files", "optional": True,
                                  "s3": {"key": "{{workflow.name}}/flowpack-fanin/make/return"}}]
    assert tasks["sizes"]["depends"] == "make"


@pytest.mark.parametrize("name, params, phase, outputs", [
    ("fan", {}, "Succeeded", {"return-0": "[3,1,2]", "return-1": '["3","1","2"]'}),
    ("literal_fan", {}, "Succeeded", {"return": "[4,0,2]"}),
    ("run_time_fan", {"n": 3}, "Succeeded", {"return": "[1,2,3]"}),
    ("run_time_fan", {"n": 0}, "Succeeded", {"return": "[]"}),       # no item: an empty list of files
    ("folders", {}, "Succeeded", {"return": "[5,6]"}),               # folders arrive as folders
    ("tarballs", {}, "Succeeded", None),                              # a tarball arrives as it is, never unpacked
])
def test_files_of_a_map_reach_the_next_step_as_on_argo(user_module, tmp_path, name, params, phase, outputs):
    m = user_module(OPS)
    local = run_both(getattr(m, name), params, tmp_path).local
    assert local.phase == phase
    if outputs is not None:
        assert local_view(local).outputs == outputs
    if name == "tarballs":
        sizes = local.result()
        assert len(sizes) == 2 and sizes[0] < sizes[1] and sizes[0] > 10  # gzip-compressed tars, not their content


def test_a_map_over_local_files(user_module, tmp_path):
    m = user_module(OPS)
    files = []
    for i, text in enumerate(["a", "bbb", "cc"]):
        files.append(tmp_path / f"f{i}.txt")
        files[-1].write_text(text)
    manifest = render_checked(m.local_files, files=files)
    task = dag_tasks(manifest)["size"]
    assert task["withItems"] == [_content_key(f) for f in files]
    assert task["arguments"]["artifacts"] == [{"name": "f", "s3": {"key": "{{item}}"}, "archive": {"none": {}}}]
    # what submit uploads: each local file under its content key
    both = run_both(m.local_files, {"files": files}, tmp_path, uploads={_content_key(f): f for f in files})
    assert both.local.result() == [1, 3, 2]


def test_files_of_a_map_in_docker(user_module, tmp_path, docker_client):
    from flowpack._engine.docker import DockerEngine

    m = user_module(OPS)
    run = m.fan.run(engine=DockerEngine(run_dir=tmp_path / "runs", client=docker_client))
    assert run.result() == ([3, 1, 2], [3, 1, 2])


def test_misuse_is_refused_at_build_time_naming_the_op_and_argument(user_module, tmp_path):
    m = user_module(OPS)
    with pytest.raises(fp.OpDefinitionError, match=r"op 'many': output 'return' is a list of files.*Return one folder"):
        @fp.op
        def many(n: int) -> list[Path]:
            return []

    @fp.workflow
    def into_int():
        return m.numbers.map(n=m.make.map(n=[1]))

    with pytest.raises(fp.WorkflowBuildError, match=r"numbers.map\(...\): argument 'n' is a JSON parameter, but the "
                                                     r"mapped list holds files"):
        into_int.render()

    @fp.workflow
    def returned():
        return m.make.map(n=[1])

    with pytest.raises(fp.WorkflowBuildError, match="is the files of map 'make', which a workflow can't return"):
        returned.render()

    @fp.workflow
    def one_file():
        return m.size(m.make.map(n=[1]))

    with pytest.raises(fp.WorkflowBuildError, match=r"op 'size' argument 'f' expects a file or folder \(Path\) "
                                                     r"artifact, but .* is a list of files"):
        one_file.render()

    @fp.workflow
    def literal_list(files: list[Path]):
        return m.sizes(files)

    (tmp_path / "a").write_text("a")
    with pytest.raises(fp.WorkflowBuildError, match="op 'sizes' argument 'files' takes a list of files"):
        literal_list.render(files=[tmp_path / "a"])
    with pytest.raises(fp.WorkflowBuildError, match="parameter 'files' takes a list of existing files"):
        literal_list.render(files=[tmp_path / "missing"])

    @fp.workflow
    def mixed(files: list[Path]):
        return m.size.map(f=files)

    (tmp_path / "d").mkdir()
    with pytest.raises(fp.WorkflowBuildError, match="mix files and folders"):
        mixed.render(files=[tmp_path / "a", tmp_path / "d"])

    @fp.op(cache=True)
    def cached(n: int) -> Path:
        return Path(".")

    @fp.workflow
    def cached_map():
        return m.sizes(cached.map(n=[1]))

    with pytest.raises(fp.WorkflowBuildError, match="op 'cached' has cache=True and returns files"):
        cached_map.render()

    @fp.workflow
    def over_a_folder():
        return m.size.map(f=m.make_dir(2))  # one folder made at run time: not a list of files

    with pytest.raises(fp.WorkflowBuildError, match=r"size.map\(...\): argument 'f' is one file or folder made while "
                                                     r"the workflow runs, not a list.*a map of an op returning Path"):
        over_a_folder.render()


def test_a_tarball_output_is_kept_as_it_is_on_argo(user_module, tmp_path):
    """Argo's executor keeps each item's file as its bytes (`archive: none`) and loads the prefix as a folder
    without unpacking what is in it."""
    m = user_module(OPS)
    both = run_both(m.tarballs, {}, tmp_path)
    objects = [p for p in both.store.rglob("*") if p.is_file()]
    assert len(objects) == 2 and all(tarfile.is_tarfile(p) for p in objects)
    root = next(n for n in both.argo.nodes if n.type == "DAG" and not n.boundary_id)
    assert sorted(json.loads(root.parameters["return"])) == sorted(p.stat().st_size for p in objects)
