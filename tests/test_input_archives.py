"""Input artifacts that look like tarballs (issue 14.10): the local engine places an input file as Argo's executor
(loadArtifact) does: the argument's `archive` decides; without one, a gzip-compressed tar is extracted (its single
top entry, or the whole folder, becoming the input), and `archive: none` keeps the bytes. Each case runs on the
local engine and on Argo's own controller and executor (tests/argo_harness.py)."""

from __future__ import annotations

import json

import pytest

from flowpack._engine.local import LocalEngine
from flowpack._store import LocalStore
from helpers import tgz

DESCRIBE = """
if [ -d /tmp/in ]; then
  cd /tmp/in && find . -type f | sort | while read -r f; do echo "$f: $(cat "$f")"; done > /tmp/out
else
  echo "file: $(od -An -tx1 -v /tmp/in | tr -d ' \\n')" > /tmp/out
fi
"""

def _manifest(key: str, archive: dict | None) -> dict:
    art = {"name": "data", "s3": {"key": key}}
    if archive is not None:
        art["archive"] = archive
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "unpack-"},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "dag": {"tasks": [{"name": "look", "template": "look",
                                                 "arguments": {"artifacts": [art]}}]}},
            {"name": "look", "inputs": {"artifacts": [{"name": "data", "path": "/tmp/in"}]},
             "script": {"image": "python:3.11-slim", "command": ["sh"], "source": DESCRIBE},
             "outputs": {"parameters": [{"name": "seen", "valueFrom": {"path": "/tmp/out"}}]}},
        ]},
    }


CASES = {
    "one-file-tarball": (tgz({"inner.txt": "hello"}), None),
    "many-files-tarball": (tgz({"a.txt": "A", "sub/b.txt": "B"}), None),
    "tarball-kept-by-archive-none": (tgz({"inner.txt": "hello"}), {"none": {}}),
    "gzip-but-not-tar": (b"\x1f\x8b" + b"not really gzip", None),
    "plain-file": (b"just bytes", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_input_file_is_placed_as_argos_executor_places_it(tmp_path, case):
    import argo_harness

    data, archive = CASES[case]
    key = "inputs/data"
    manifest = _manifest(key, archive)
    argo_store = tmp_path / "argo-store"
    (argo_store / "inputs").mkdir(parents=True)
    (argo_store / key).write_bytes(data)
    argo = argo_harness.run(manifest, argo_store, timeout=120)
    assert argo.phase == "Succeeded", {n.display_name: n.message for n in argo.nodes}
    on_argo = argo.node("look").parameters["seen"]

    source = tmp_path / "data.bin"
    source.write_bytes(data)
    store = LocalStore(tmp_path / "store")
    engine = LocalEngine(run_dir=tmp_path / "runs", store=store)
    record = engine.execute(manifest, uploads={key: store.put(source, key)})
    assert record.phase == "Succeeded", record.message
    step = json.loads((tmp_path / "runs" / record.id / "steps" / "look" / "step.json").read_text())
    assert step["outputs"]["parameters"]["seen"] == on_argo
