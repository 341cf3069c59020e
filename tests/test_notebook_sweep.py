"""examples/model_sweep.ipynb executed by a real Jupyter kernel against real services, and its outputs checked.

The notebook runs the sweep locally, builds and pushes its image (the real docker daemon and the registry on
127.0.0.1:5000), and submits to the Argo Server named by ARGO_* variables: here the Argo test double
(tests/argo_double.py, checked against Argo's OpenAPI spec), whose artifact repository is a real SeaweedFS bucket.
"""

from __future__ import annotations

import ast
import json
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from argo_double import TOKEN, argo_server, argo_store, use_argo_double  # noqa: E402,F401  (pytest fixtures)
from examples_support import EXAMPLES, check_sweep, displayed, notebook_cell, oracle  # noqa: E402
from fixtures_docker import docker_client, local_registry  # noqa: E402,F401
from fixtures_s3 import s3_server, s3_store  # noqa: E402,F401

nbformat = pytest.importorskip("nbformat", reason="needs the [test] extra: pip install nbclient nbformat ipykernel")
nbclient = pytest.importorskip("nbclient", reason="needs the [test] extra: pip install nbclient nbformat ipykernel")

NOTEBOOK = EXAMPLES / "model_sweep.ipynb"
SKLEARN_VERSION = "import sklearn; print(sklearn.__version__)"


@pytest.fixture
def executed(tmp_path, monkeypatch, argo_server, argo_store, s3_server, local_registry):
    """The notebook run top to bottom in a fresh kernel, in an empty folder, with the usual environment."""
    use_argo_double(monkeypatch, argo_server, tmp_path / "no-config.toml")
    env = {"REGISTRY": local_registry, "ARTIFACTS_ENDPOINT": argo_store.endpoint, "ARTIFACTS_BUCKET": argo_store.bucket,
           "ARTIFACTS_SECURE": "false", "AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the kernel inherits this process's environment
    work = tmp_path / "notebook"
    work.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(work)}})
    client.execute()
    nbformat.write(nb, tmp_path / "executed.ipynb")  # kept with the test's files, to look at when it fails
    return nb, work


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.get("name") == "stdout")


def test_notebook_runs_locally_builds_and_submits_to_argo(executed, argo_server, s3_server, docker_client,
                                                          local_registry):
    nb, work = executed
    for cell in nb.cells:
        errors = [o for o in cell.outputs if o.output_type == "error"] if cell.cell_type == "code" else []
        assert not errors, f"cell {cell.source[:60]!r} failed: {errors[0]['ename']}: {errors[0]['evalue']}"

    # the DAG, and the local run with its steps coloured by phase
    dag = displayed(notebook_cell(nb, "sweep"), "image/svg+xml") + displayed(notebook_cell(nb, "sweep"), "text/html")
    assert "<svg" in dag and all(f'data-node="{n}"' in dag for n in ("split", "train", "pick-best"))
    table = displayed(notebook_cell(nb, "run = sweep.run()"), "text/html")
    assert 'data-phase="Succeeded"' in table and 'data-phase="Failed"' not in table
    assert all(f'data-node="{n}"' in table for n in ("split", "train", "pick-best"))

    # the local result, checked against models trained here
    grid = [{"C": c, "gamma": g} for c in (1.0, 10.0) for g in (0.0001, 0.001, 0.01)]
    runs = [p for p in (work / ".flowpack" / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1
    report = (runs[0] / "outputs" / "report").read_text()
    top = max(oracle(grid).values(), key=lambda s: s.test_accuracy)
    best = displayed(notebook_cell(nb, "best = run.result()"))
    assert ast.literal_eval(best) == (top.params, round(top.test_accuracy, 4))
    check_sweep(runs[0], top.params, top.test_accuracy, report, grid)
    assert displayed(notebook_cell(nb, "from IPython.display import Markdown"), "text/markdown") == report

    # the images: built, pushed to the registry, and named by the manifest
    images = ast.literal_eval(displayed(notebook_cell(nb, "REGISTRY =")))
    assert set(images) == {"split", "train", "pick-best"}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for tag in set(images.values()):
        assert tag.startswith(f"{local_registry}/flowpack/step:"), tag
        assert docker_client.images.get(tag).labels.get("org.flowpack.managed") == "true"
        repo, _, ref = tag[len(local_registry) + 1:].rpartition(":")
        head = urllib.request.Request(f"http://{local_registry}/v2/{repo}/manifests/{ref}", method="HEAD",
                                      headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        with opener.open(head, timeout=5) as resp:  # pushed
            assert resp.status == 200
    version = docker_client.containers.run(images["train"], ["python", "-c", SKLEARN_VERSION], remove=True,
                                           network_disabled=True)
    assert version.decode().strip() == "1.9.1"
    assert ast.literal_eval(displayed(notebook_cell(nb, 'Path("sweep.yaml")'))) == images
    written = yaml.safe_load((work / "sweep.yaml").read_text())
    assert {t["name"]: t["script"]["image"] for t in written["spec"]["templates"] if "script" in t} == images

    # submitted to the Argo Server of the environment, with the images the notebook built
    (submitted,) = list((work / ".flowpack" / "argo" / "argo").iterdir())
    created = [wf for (coll, ns, name), wf in argo_server.objects.items() if coll == "workflows"]
    assert len(created) == 1 and created[0]["metadata"]["name"] == submitted.name
    used = {t["name"]: t["script"]["image"] for t in created[0]["spec"]["templates"] if "script" in t}
    assert used == images
    assert "Succeeded" in displayed(notebook_cell(nb, "argo_run.wait"), "text/html")
    logs = _printed(notebook_cell(nb, 'for line in argo_run.logs(step="pick-best")'))
    chosen, _, accuracy = logs.partition("best of 6 models: ")[2].strip().partition(" (test accuracy ")
    assert ast.literal_eval(chosen) == top.params and accuracy == f"{top.test_accuracy:.4f})"

    # the result fetched back from the artifact repository: the same as the local run's
    printed = _printed(notebook_cell(nb, "fetched = argo_run.outputs"))
    first, _, fetched = printed.partition("\n")
    chosen, _, accuracy = first.rpartition(" ")
    assert ast.literal_eval(chosen) == top.params and accuracy == str(round(top.test_accuracy, 4))
    assert fetched.strip() == report.strip()
    assert TOKEN not in json.dumps(nb) and s3_server.secret_key not in json.dumps(nb)
