"""The viewer's artifact previews from an S3 store (issue 17.4), markdown tables, a fan-in step's inputs as the list
the step read, and log lines with the time the step wrote them: against the real SeaweedFS fixture, in the real
headless Chromium (as tests/test_ui_browser.py)."""

from __future__ import annotations

import base64
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import CHROMIUM, Browser  # noqa: E402
from fixtures_s3 import s3_server, s3_store  # noqa: E402,F401  (pytest fixtures)
from flowpack._ui import make_server, url  # noqa: E402
from flowpack._view import _steps  # noqa: E402

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
MARKDOWN = "| model | accuracy |\n|---|---:|\n| svc | 0.98 |\n| tree | 0.85 |\n"

WORKFLOWS = f'''
import base64
import json
import sys
from pathlib import Path

import flowpack as fp


@fp.op
def text() -> Path:
    Path("t.txt").write_text("plain words\\n")
    return Path("t.txt")


@fp.op
def report() -> Path:
    Path("r.md").write_text({MARKDOWN!r})
    return Path("r.md")


@fp.op
def stats() -> Path:
    Path("s.json").write_text(json.dumps({{"rows": 2, "cols": ["city", "people"]}}))
    return Path("s.json")


@fp.op
def table() -> Path:
    Path("t.csv").write_text("city,people\\nParis,2100000\\nLyon,520000\\n")
    return Path("t.csv")


@fp.op
def picture() -> Path:
    Path("p.png").write_bytes(base64.b64decode({PNG!r}))
    return Path("p.png")


@fp.op
def square(x: int) -> int:
    print("squaring", x, file=sys.stderr)
    return x * x


@fp.op
def total(xs: list) -> int:
    return sum(xs)


@fp.workflow
def files():
    return text(), report(), stats(), table(), picture(), total(square.map(x=[1, 2, 3]))
'''
KINDS = {"text": "text", "report": "markdown", "stats": "json", "table": "csv", "picture": "image"}


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("previews")
    (tmp / "previewwf.py").write_text(WORKFLOWS)
    sys.path.insert(0, str(tmp))
    import previewwf

    yield previewwf
    sys.modules.pop("previewwf", None)
    sys.path.remove(str(tmp))


@pytest.fixture
def s3_env(s3_server, monkeypatch):  # noqa: F811
    """The viewer reads an S3 store with the credentials of its own environment, as `flowpack ui` does."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    return s3_server


def test_s3_artifacts_are_previewed_through_the_store_and_checked(module, tmp_path, s3_env, s3_store):  # noqa: F811
    run = module.files.run(run_dir=tmp_path / "runs", store=s3_store)
    assert run.record["store"]["type"] == "s3"
    got = {step: _steps.preview(tmp_path / "runs", run.id, step, "out", "return") for step in KINDS}
    assert {step: p["type"] for step, p in got.items()} == KINDS
    assert got["text"]["text"] == "plain words\n" and got["report"]["text"] == MARKDOWN
    assert got["table"]["rows"] == [["city", "people"], ["Paris", "2100000"], ["Lyon", "520000"]]
    assert json.loads(got["stats"]["text"]) == {"rows": 2, "cols": ["city", "people"]}
    image, _ = _steps.artifact_path(tmp_path / "runs", run.id, "picture", "out", "return")
    assert image.read_bytes() == base64.b64decode(PNG)  # fetched whole, verified, for the page's <img>
    # an object changed in the bucket behind the run's back is not shown
    key = json.loads((run.path / "steps" / "text" / "step.json").read_text())["outputs"]["artifacts"]["return"]["key"]
    s3_env.client().put_object(s3_store.bucket, s3_store.prefix + key, _Bytes(b"swapped words\n"), 14)
    with pytest.raises(_steps.NotFound, match="sha256|hash"):
        _steps.preview(tmp_path / "runs", run.id, "text", "out", "return")


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return out


def test_a_markdown_table_is_not_taken_for_a_csv(module, tmp_path):
    run = module.files.run(run_dir=tmp_path / "runs")
    assert _steps.preview(tmp_path / "runs", run.id, "report", "out", "return")["type"] == "markdown"


def test_a_fan_in_steps_inputs_show_the_list_it_read(module, tmp_path):
    run = module.files.run(run_dir=tmp_path / "runs")
    raw = json.loads((run.path / "steps" / "total" / "step.json").read_text())["inputs"]["parameters"]["xs"]
    assert raw.startswith("fp-each-json:")  # what the step was handed
    page = _steps.step_page(tmp_path / "runs", run.id, "total")
    assert page["step"]["inputs"]["parameters"]["xs"] == "[1, 4, 9]"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install -y chromium")
def test_the_page_previews_s3_artifacts_draws_markdown_tables_and_stamps_lines(module, tmp_path, s3_env,
                                                                             s3_store):  # noqa: F811
    run = module.files.run(run_dir=tmp_path / "runs", store=s3_store)
    server = make_server(tmp_path / "runs", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    b = Browser(tmp_path / "profile")
    try:
        previews = {}
        for step in KINDS:
            b.send("Page.navigate", url=url(server) + f"#/run/{run.id}/step/{step}")
            b.wait(f"document.getElementById('step-title') && document.getElementById('step-title').textContent"
                   f".startsWith('step {step} ') && document.querySelector('[data-artifact=\"out:return\"] .preview')",
                   f"{step}'s preview")
            previews[step] = b.js("document.querySelector('[data-artifact=\"out:return\"] .preview').dataset.type")
            if step == "report":
                assert b.js("[...document.querySelectorAll('.md table.mdtable tr')].map(r => [...r.cells]"
                            ".map(c => c.textContent))") == [["model", "accuracy"], ["svc", "0.98"], ["tree", "0.85"]]
                assert "|" not in b.js("document.querySelector('.md').textContent")  # drawn, not raw
            if step == "picture":
                b.wait("(() => { const i = document.querySelector('[data-artifact=\"out:return\"] img'); "
                       "return i && i.complete && i.naturalWidth === 1; })()", "the image from S3 loaded")
        assert previews == KINDS
        b.screenshot("ui-s3-previews.png")
        b.send("Page.navigate", url=url(server) + f"#/run/{run.id}/step/total")
        b.wait("document.getElementById('step-io') && document.getElementById('step-io').innerText.includes('xs')",
               "the fan-in step's inputs")
        io = b.js("document.getElementById('step-io').innerText")
        assert "[1, 4, 9]" in io and "fp-each" not in io
        node = next(n for n in run.steps if n.startswith("square") and n != "square")
        line = next(ln for ln in run.logs(node) if ln.content.startswith("squaring"))
        b.send("Page.navigate", url=url(server) + f"#/run/{run.id}/step/{node}")
        b.wait("document.getElementById('stderr') && document.getElementById('stderr').textContent"
               ".includes('squaring')", "the item's log")
        b.click("#stderr-stamps")
        shown = b.js("[...document.querySelectorAll('#stderr .ln')].filter(l => l.textContent.startsWith('squaring'))"
                     ".map(l => l.dataset.t)[0]")
        assert shown == b.js(f"new Date({line.time * 1000}).toLocaleTimeString()")  # when the step wrote it
    finally:
        b.close()
        server.shutdown()
        server.server_close()
