"""`flowpack ui` in a real headless Chromium on a run of examples/model_sweep.py: the run, its map, and the step that
wrote the report artifact, with the report's preview and download checked against the file the run produced (the
Browser driver comes from test_ui_browser.py).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import CHROMIUM, Browser  # noqa: E402
from examples_support import load_example, unload  # noqa: E402
from flowpack._ui import make_server, url  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: apt-get install -y chromium")

GRID = [{"C": 10.0, "gamma": 0.001}, {"C": 1.0, "gamma": 0.01}]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui-sweep")
    module = load_example("model_sweep", alias="fp_example_model_sweep_ui")
    run_dir = tmp / "runs"
    run = module.sweep.run(run_dir=run_dir, grid=GRID)
    best = run.result()
    server = make_server(run_dir, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Browser(tmp / "profile")
    yield {"browser": browser, "url": url(server), "run": run, "best": best}
    browser.close()
    server.shutdown()
    server.server_close()
    unload(module)


def _app(b: Browser) -> str:
    return b.js("document.getElementById('app').innerText")


def _outputs_table(b: Browser) -> dict:
    """The name/value rows of the table under the page's 'Outputs' heading."""
    return b.js("""(() => { const h = [...document.querySelectorAll('h3')].find(e => e.textContent === 'Outputs');
        const t = h && h.nextElementSibling; if (!t || !t.querySelectorAll) return null;
        return Object.fromEntries([...t.querySelectorAll('tr')].slice(1)
          .map(r => [...r.querySelectorAll('td')].map(td => td.textContent))); })()""")


def _as_drawn(line: str) -> str | None:
    """A markdown line as a browser's innerText gives it once drawn: a heading's text, a table row's cells joined by
    tabs, no line for a table's alignment row."""
    line = line.strip()
    if line.startswith("|"):
        cells = [c.strip() for c in line.strip("|").split("|")]
        return None if all(set(c) <= set(":-") for c in cells) else "\t".join(cells)
    return line.lstrip("# ")


def test_the_sweep_run_and_its_report_artifact(site):
    b, run, best = site["browser"], site["run"], site["best"]
    b.send("Page.navigate", url=site["url"])
    b.wait(f"document.querySelector('a[href=\"#/run/{run.id}\"]')", "the sweep's run in the list")
    assert "4 succeeded" in _app(b)  # split, two train items, pick-best
    b.click(f'a[href="#/run/{run.id}"]')
    b.wait("document.querySelector('#dag svg g.node')", "the run's DAG")
    phases = b.js("Object.fromEntries([...document.querySelectorAll('#dag g.node')]"
                  ".map(g => [g.dataset.node, g.dataset.phase]))")
    assert phases == {"split": "Succeeded", "train": "Succeeded", "pick-best": "Succeeded"}
    items = b.js("[...document.querySelectorAll('#steps tr.item a')].map(a => a.getAttribute('href'))")
    assert len(items) == len(GRID)  # one row per map item, each linking to its step
    assert json.dumps(GRID, separators=(",", ":")) in _app(b)  # the grid parameter

    digest = hashlib.sha256(best.report.read_bytes()).hexdigest()
    outputs = _outputs_table(b)
    assert set(outputs) == {"params", "accuracy", "report"}
    assert json.loads(outputs["params"]) == best.params and float(outputs["accuracy"]) == best.accuracy
    report = json.loads(outputs["report"])  # the artifact's record: where it is stored and its digest
    assert report["sha256"] == digest and report["size"] == best.report.stat().st_size
    b.screenshot("ui-sweep-run.png")

    b.click(f'a[href="#/run/{run.id}/step/pick-best"]')
    b.wait("location.hash.endsWith('/step/pick-best') && document.querySelector("
           "'[data-artifact=\"out:report\"] .preview')", "pick-best's page with the report's preview")
    outputs = _outputs_table(b)
    assert json.loads(outputs["params"]) == best.params and float(outputs["accuracy"]) == best.accuracy
    preview = b.js("(() => { const p = document.querySelector('[data-artifact=\"out:report\"] .preview');"
                   " return {type: p.dataset.type, text: p.innerText}; })()")
    assert preview["type"] == "markdown"
    shown = [line.strip() for line in preview["text"].splitlines() if line.strip()]
    written = [_as_drawn(line) for line in best.report.read_text().splitlines() if line.strip()]
    assert shown == [line for line in written if line is not None]  # every line, its heading and table as drawn
    assert b.js("document.querySelectorAll('[data-artifact=\"out:report\"] .preview table tr').length") == 3
    downloaded = b.js("fetch(document.querySelector('[data-artifact=\"out:report\"] a[download]').href)"
                      ".then(r => r.text())")
    assert downloaded == best.report.read_text()
    b.wait("(document.getElementById('stderr') || {}).textContent.includes('best of 2 models')", "pick-best's log")
    stderr = b.js("document.getElementById('stderr').textContent")
    assert f"best of 2 models: {best.params} (test accuracy {best.accuracy:.4f})" in stderr
    b.screenshot("ui-sweep-report.png")

    b.click('a[href="#/run/' + run.id + '"]')
    b.wait("document.querySelector('#dag svg g.node')", "the run's DAG again")
    b.click(f'#steps a[href="{items[1]}"]')  # the second map item, from the table of steps
    b.wait(f"document.getElementById('stdout') && location.hash === {json.dumps(items[1])}", "the item's page")
    item = _outputs_table(b)
    assert json.loads(item["params"]) == GRID[1] and 0.5 < float(item["test_accuracy"]) < best.accuracy
