"""Argo's "cluster" artifact mode with an S3 store that has a prefix: Argo resolves a key-only artifact against the
cluster's bucket, while the store wrote every upload under its prefix. A map over a literal list of local files or
folders loops over their upload keys (`withItems`), which its artifact takes as its key (`{{item}}`, or `{{item.f}}`
for zipped lists), so those items need the prefix too (flowpack/_argo/_prepare.locate).

The uploads go to a real S3 server (SeaweedFS) through a prefixed fp.S3 store; every key a pod would read must be
an object of that bucket, and Argo's own controller (the harness, its store a copy of the bucket) runs the workflow
to the same result as the local engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import flowpack as fp
from argo_harness import run as harness_run
from fixtures_s3 import s3_server, s3_store  # noqa: F401  (pytest fixtures)
from flowpack._argo._submit import render_for_argo
from flowpack._bigvalue import UPLOAD_PREFIX

SOURCE = '''
from pathlib import Path

import flowpack as fp

FILES = {files!r}
DIRS = {dirs!r}


@fp.op
def read(p: Path) -> str:
    return "read " + p.read_text()


@fp.op
def tagged(p: Path, tag: str) -> str:
    return tag + " " + p.read_text()


@fp.op
def listing(d: Path) -> str:
    return "dir " + ",".join(sorted(f.name + "=" + f.read_text() for f in d.iterdir()))


@fp.workflow
def nested():
    return read.map(p=[Path(f) for f in FILES])                      # a map inside a sub-workflow's DAG


@fp.workflow
def whole(p: Path):
    return read(p)


@fp.workflow
def maps(files: list[Path]):
    return {{
        "given": read.map(p=files),                                  # a list[Path] parameter: withItems of keys
        "literal": read.map(p=[Path(f) for f in FILES]),             # a literal list: the same
        "zipped": tagged.map(p=[Path(f) for f in FILES], tag=["x", "y"]),  # {{{{item.p}}}} of dict items
        "folders": listing.map(d=[Path(d) for d in DIRS]),           # folders: tarballs Argo unpacks
        "bounded": read.map(p=[Path(f) for f in FILES], parallelism=1),  # inside a DAG of its own
        "one": read(Path(FILES[0])),                                 # a file passed whole (a task's own key)
        "nested": nested(),
        "passed": whole(Path(FILES[1])),                             # a file passed to a sub-workflow
    }}
'''

ITEM = re.compile(r"\{\{item(?:\.([-\w]+))?\}\}")


def _keys_pods_read(manifest: dict) -> list[str]:
    """Every key-only s3 key a pod of the manifest would read, a loop's item keys resolved from its withItems."""
    spec = manifest["spec"]
    keys = [a["s3"]["key"] for a in (spec.get("arguments") or {}).get("artifacts") or [] if "s3" in a]
    for tpl in spec["templates"]:
        for task in (tpl.get("dag") or {}).get("tasks") or []:
            for art in (task.get("arguments") or {}).get("artifacts") or []:
                key = (art.get("s3") or {}).get("key")
                if key is None or key.startswith("{{inputs.") or "{{tasks." in key:
                    continue  # none, or one Argo writes itself (a map's fan-in)
                found = ITEM.fullmatch(key)
                if found is None:
                    keys.append(key)
                    continue
                items = task["withItems"]
                keys += [item if found.group(1) is None else item[found.group(1)] for item in items]
    return keys


@pytest.fixture
def inputs(tmp_path) -> tuple[list[Path], list[Path]]:
    files = []
    for name, text in (("a.txt", "alpha"), ("b.txt", "beta")):
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        files.append(path)
    dirs = []
    for name, content in (("d1", {"x": "1"}), ("d2", {"y": "2", "z": "3"})):
        folder = tmp_path / "in" / name
        folder.mkdir()
        for file, text in content.items():
            (folder / file).write_text(text)
        dirs.append(folder)
    return files, dirs


def test_a_map_over_local_files_reads_the_prefixed_keys_the_store_wrote(user_module, tmp_path, inputs, s3_server,
                                                                       s3_store):
    files, dirs = inputs
    m = user_module(SOURCE.format(files=[str(f) for f in files], dirs=[str(d) for d in dirs]))
    store = s3_server.store(s3_store.bucket, prefix="team-a")
    manifest = render_for_argo(m.maps, store=store, files=files)  # uploads to the bucket, under team-a/
    client = s3_server.client()
    stored = {o.object_name for o in client.list_objects(s3_store.bucket, recursive=True)}
    assert stored and all(name.startswith("team-a/" + UPLOAD_PREFIX + "/") for name in stored)

    read = _keys_pods_read(manifest)
    assert len(read) == 2 + 2 + 2 + 2 + 2 + 1 + 2 + 1  # the maps' items and the files passed whole
    missing = sorted(set(read) - stored)
    assert not missing, f"keys no object has in the bucket: {missing}"

    # Argo's controller runs it, its repository a copy of the bucket (the harness reads key-only artifacts there)
    bucket = tmp_path / "bucket"
    for name in stored:
        client.fget_object(s3_store.bucket, name, str(bucket / name))
    argo = harness_run(manifest, bucket, timeout=180)
    messages = {n.display_name: n.message for n in argo.nodes if n.message}
    assert argo.phase == "Succeeded", f"{argo.phase} {argo.message} {messages}"
    root = next(n for n in argo.nodes if n.type == "DAG" and not n.boundary_id)  # the workflow's own outputs
    outputs = {p["name"]: p["value"] for p in (root.outputs or {}).get("parameters") or []}
    on_argo = {name: json.loads(text) if text.startswith("[") else text for name, text in outputs.items()}

    local = m.maps.run(run_dir=tmp_path / "runs", files=files).result()
    expected = {"given": ["read alpha", "read beta"], "literal": ["read alpha", "read beta"],
                "zipped": ["x alpha", "y beta"], "folders": ["dir x=1", "dir y=2,z=3"],
                "bounded": ["read alpha", "read beta"], "one": "read alpha", "nested": ["read alpha", "read beta"],
                "passed": "read beta"}
    assert local == expected
    assert on_argo == expected


def test_only_the_keys_flowpack_uploaded_get_the_prefix(user_module, inputs, s3_server, s3_store):
    """A user's own text among the items (a zipped list of strings that look like upload keys) stays as it is."""
    files, _ = inputs
    m = user_module(SOURCE.format(files=[str(f) for f in files], dirs=[]))
    store = s3_server.store(s3_store.bucket, prefix="team-a")

    @fp.workflow
    def lookalike():
        return m.tagged.map(p=files, tag=[UPLOAD_PREFIX + "/mine", UPLOAD_PREFIX + "/yours"])

    manifest = render_for_argo(lookalike, store=store)
    [task] = [t for tpl in manifest["spec"]["templates"] for t in (tpl.get("dag") or {}).get("tasks") or []
              if "withItems" in t]
    assert [item["tag"] for item in task["withItems"]] == [UPLOAD_PREFIX + "/mine", UPLOAD_PREFIX + "/yours"]
    assert all(item["p"].startswith("team-a/" + UPLOAD_PREFIX + "/") for item in task["withItems"])
