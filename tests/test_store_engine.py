"""The local engine with its artifacts in a real S3 server (SeaweedFS): uploads, lazy outputs, digests checked."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import flowpack as fp
from fixtures_s3 import s3_server, s3_store  # noqa: F401  (pytest fixtures: a real SeaweedFS, a fresh bucket)
from helpers import run_checked

PIPELINE = '''
from pathlib import Path
import flowpack as fp


class Box:
    def __init__(self, items):
        self.items = items


@fp.op
def count_lines(data: Path) -> int:
    return len(data.read_text().splitlines())


@fp.op
def boxed(n: int):
    return Box(list(range(n)))


@fp.op
def write(box) -> Path:
    out = Path("out")
    out.mkdir()
    (out / "items.txt").write_text(",".join(map(str, box.items)))
    return out


@fp.workflow
def pipeline(data: Path):
    b = boxed(count_lines(data))
    return {"box": b, "folder": write(b)}
'''


def _keys(store) -> set[str]:
    client = store._client
    return {o.object_name for o in client.list_objects(store.bucket, recursive=True)}


def test_a_local_run_keeps_its_artifacts_in_s3(user_module, tmp_path, s3_store):
    m = user_module(PIPELINE)
    data = tmp_path / "data.csv"
    data.write_text("a\nb\nc\n")
    run = run_checked(m.pipeline, tmp_path, data=str(data), store=s3_store)
    keys = _keys(s3_store)
    assert any(k.endswith("/boxed/return") for k in keys), keys  # the pickled value went to the bucket
    assert any("/write/return" in k for k in keys), keys  # so did the folder (an archive)
    assert not (run.path / "outputs").exists()  # outputs are fetched on demand, not before
    result = run.result()
    assert result["box"].items == [0, 1, 2]
    folder = result["folder"]
    assert (Path(folder) / "items.txt").read_text() == "0,1,2"


def test_an_input_file_is_uploaded_once_by_content(user_module, tmp_path, s3_store):
    m = user_module(PIPELINE)
    data = tmp_path / "data.csv"
    data.write_text("x\ny\n")
    run_checked(m.pipeline, tmp_path, data=str(data), store=s3_store)
    inputs = sorted(k for k in _keys(s3_store) if "/inputs/" in k)
    assert len(inputs) == 1, inputs
    client = s3_store._client
    first = client.stat_object(s3_store.bucket, inputs[0]).last_modified
    copy = tmp_path / "same-content.csv"
    copy.write_bytes(data.read_bytes())
    run = run_checked(m.pipeline, tmp_path, data=str(copy), store=s3_store)
    assert run.result()["box"].items == [0, 1]
    assert sorted(k for k in _keys(s3_store) if "/inputs/" in k) == inputs  # same content, same key
    assert client.stat_object(s3_store.bucket, inputs[0]).last_modified == first  # and not uploaded again


def test_a_pickled_output_is_loaded_only_after_its_digest_is_checked(user_module, tmp_path, s3_store):
    m = user_module(PIPELINE)
    data = tmp_path / "data.csv"
    data.write_text("1\n")
    run = run_checked(m.pipeline, tmp_path, data=str(data), store=s3_store)
    ref = run.record["outputs"]["artifacts"]["box"]
    import io

    forged = pickle.dumps({"not": "what the step wrote"})
    s3_store._client.put_object(s3_store.bucket, s3_store._object(ref["key"]), io.BytesIO(forged), len(forged))
    with pytest.raises(fp.StoreError):
        run.output("box")
