"""`flowpack ui` serves a step's files from the run folder only: never through a link a step planted in its own root
(`root/tmp/x/stdout -> /any/file`), whether the link is the file or a folder on the way to it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import flowpack as fp
from flowpack import _ui

SECRET = "UI-SECRET-41d2"


@pytest.fixture
def secret(tmp_path) -> Path:
    folder = tmp_path / "host-only"
    folder.mkdir(mode=0o700)
    for name in ("stdout", "stderr", "step.json", "secret.txt"):
        (folder / name).write_text(SECRET if name != "step.json" else json.dumps({"phase": SECRET}))
        (folder / name).chmod(0o600)
    return folder


def _planting_run(tmp_path: Path, secret: Path):
    plant = fp.shell(  # the secret's path comes as an input: shell text naming /tmp/... would be pointed at the root
        'mkdir -p /tmp/x && for f in stdout stderr step.json; do ln -s "$secret/$f" /tmp/x/$f; done && '
        'ln -s "$secret" /tmp/linked && echo ok > /tmp/out.txt',
        name="plant", inputs={"secret": str}, outputs={"o": fp.Parameter("/tmp/out.txt")})

    @fp.workflow(name="plants")
    def plants(secret: str):
        return plant(secret=secret).o

    return plants.run(run_dir=tmp_path / "runs", secret=str(secret))


def _get(server, path: str) -> tuple[int, str]:
    port = server.server_address[1]
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": f"127.0.0.1:{port}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_the_viewer_never_follows_a_link_a_step_planted(tmp_path, secret):
    run = _planting_run(tmp_path, secret)
    assert run.result() == "ok"
    root = run.path / "steps" / "plant" / "root" / "tmp"
    assert (root / "x" / "stdout").resolve() == secret / "stdout"  # the step did plant them
    assert (root / "linked").resolve() == secret
    server = _ui.serve(tmp_path / "runs", port=0, background=True)
    try:
        run_id = urllib.parse.quote(run.id, safe="")
        code, body = _get(server, f"/api/runs/{run_id}/steps/plant")
        assert code == 200 and SECRET not in body  # the step's own folder: served
        for node in ("plant/root/tmp/x", "plant/root/tmp/linked", "plant/root/tmp/linked/..",
                     "plant/root/tmp/./linked"):
            code, body = _get(server, f"/api/runs/{run_id}/steps/{urllib.parse.quote(node, safe='/')}")
            assert SECRET not in body, node
            if code == 200:  # a real folder of the step's own: the planted links read as nothing
                data = json.loads(body)
                assert data["stdout"]["text"] == "" and data["stderr"]["text"] == "" and data["stdout"]["size"] < 200
    finally:
        server.shutdown()
        server.server_close()
