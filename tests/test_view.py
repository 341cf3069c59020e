"""Pictures, displays, progress bars and the run-folder reader, on real local runs and hand-made manifests."""

from __future__ import annotations

import argparse
import io
import json
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest

import flowpack as fp
from flowpack import _cli_view, _view
from flowpack._records import StepFolderRecord
from flowpack._ui import make_server, url

SVG = "{http://www.w3.org/2000/svg}"


def _wf(tasks: list[dict], extra_templates: list[dict] | None = None) -> dict:
    names = {t["template"] for t in tasks}
    leaves = [{"name": n, "script": {"image": "python", "command": ["python"], "source": ""}} for n in sorted(names)]
    return {"metadata": {"generateName": "w-"},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": tasks}}] + leaves
                     + (extra_templates or [])}}


def _nodes(svg: str) -> dict[str, str]:
    root = ET.fromstring(svg)
    return {g.get("data-node"): g.get("data-phase") for g in root.iter(SVG + "g") if g.get("class") == "node"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real local runs (one succeeded with a map, one failed) in one run folder."""
    tmp = tmp_path_factory.mktemp("view")
    src = tmp / "viewwf.py"
    src.write_text(
        "import flowpack as fp\n\n"
        "@fp.op\ndef square(x: int) -> int:\n    return x * x\n\n"
        "@fp.op\ndef total(xs: list) -> int:\n    print('summing', xs)\n    return sum(xs)\n\n"
        "@fp.op\ndef boom(t: int) -> int:\n    import sys\n    print('cannot <handle> ' + str(t), file=sys.stderr)\n"
        "    raise ValueError('bad total')\n\n"
        "@fp.workflow\ndef good(items: list = [1, 2, 3]) -> int:\n    return total(square.map(x=items))\n\n"
        "@fp.workflow\ndef bad(items: list = [1, 2]) -> int:\n    return boom(total(square.map(x=items)))\n"
    )
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("viewwf", src)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["viewwf"] = mod
    spec.loader.exec_module(mod)
    run_dir = tmp / "runs"
    ok = mod.good.run(run_dir=run_dir)
    with pytest.raises(fp.StepFailed) as info:
        mod.bad.run(run_dir=run_dir)
    yield {"dir": run_dir, "ok": ok, "failed": info.value, "mod": mod}
    sys.modules.pop("viewwf", None)


# -- the picture --------------------------------------------------------------------------------
def test_layers_follow_longest_path_and_edges_are_drawn():
    m = _wf([{"name": "a", "template": "t"}, {"name": "b", "template": "t", "depends": "a"},
             {"name": "c", "template": "t", "depends": "a && b.Succeeded"}, {"name": "d", "template": "t"}])
    from flowpack._view._graph import build

    dag = build(m)
    assert {n: dag.nodes[n].layer for n in "abcd"} == {"a": 0, "b": 1, "c": 2, "d": 0}
    assert sorted(dag.edges) == [("a", "b"), ("a", "c"), ("b", "c")]
    svg = _view.dag_svg(m)
    root = ET.fromstring(svg)
    assert len([p for p in root.iter(SVG + "path") if p.get("marker-end")]) == 3
    assert set(_nodes(svg)) == set("abcd")


def _random_dag(n: int, seed: int) -> dict:
    """A workflow of n tasks, each depending on up to 3 of the 15 before it, some with conditions or allowed
    failures."""
    import random

    rnd = random.Random(seed)
    tasks: list[dict] = []
    for i in range(n):
        t = {"name": f"step-{i:03d}-" + "x" * rnd.randint(0, 30), "template": "t"}
        if i:
            deps = {tasks[rnd.randrange(max(0, i - 15), i)]["name"] for _ in range(rnd.randint(0 if i < 3 else 1, 3))}
            if deps:
                t["depends"] = " && ".join(sorted(deps))
        if rnd.random() < 0.1:
            t["when"] = "{{workflow.parameters.x}} > 1"
        if rnd.random() < 0.1:
            t["continueOn"] = {"failed": True}
        tasks.append(t)
    return _wf(tasks)


def _hits(p: tuple[float, float], q: tuple[float, float], box) -> bool:
    """Whether the segment p-q enters the box's inside (Liang-Barsky clipping; touching an edge is not entering)."""
    (x0, y0), (x1, y1) = p, q
    lo, hi = 0.0, 1.0
    for d, start, low, high in ((x1 - x0, x0, box.x, box.x + box.w), (y1 - y0, y0, box.y, box.y + box.h)):
        if d == 0:
            if not low < start < high:
                return False
            continue
        t0, t1 = sorted(((low - start) / d, (high - start) / d))
        lo, hi = max(lo, t0), min(hi, t1)
    return hi - lo > 1e-9


@pytest.mark.parametrize("size", [30, 100])
def test_layout_routes_every_edge_clear_of_other_boxes_and_reduces_crossings(size):
    from flowpack._view._graph import build
    from flowpack._view._layout import layout

    for seed in (1, 2, 3):
        dag = build(_random_dag(size, seed))
        lay = layout(dag)
        assert set(lay.boxes) == set(dag.nodes) and len(lay.edges) == len(set(dag.edges))
        boxes = list(lay.boxes.values())
        for a, b, points in lay.edges:
            assert points[0] == (lay.boxes[a].x + lay.boxes[a].w / 2, lay.boxes[a].y + lay.boxes[a].h)
            assert points[-1] == (lay.boxes[b].x + lay.boxes[b].w / 2, lay.boxes[b].y)
            for p, q in zip(points, points[1:]):
                crossed = [box.id for box in boxes if box.id not in (a, b) and _hits(p, q, box)]
                assert not crossed, f"edge {a} -> {b} passes behind {crossed}"
        for i, one in enumerate(boxes):  # no two boxes overlap
            for other in boxes[i + 1:]:
                assert (one.y != other.y or one.x + one.w <= other.x or other.x + other.w <= one.x), (one, other)
        assert lay.crossings < lay.crossings_before, (seed, lay.crossings_before, lay.crossings)
        print(f"{size} nodes, seed {seed}: {lay.crossings_before} crossings before reduction, {lay.crossings} after")


def test_layout_untangles_a_crossing_the_manifest_order_makes():
    from flowpack._view._graph import build
    from flowpack._view._layout import layout

    m = _wf([{"name": "a", "template": "t"}, {"name": "b", "template": "t"}, {"name": "c", "template": "t"},
             {"name": "x", "template": "t", "depends": "c"}, {"name": "y", "template": "t", "depends": "b"},
             {"name": "z", "template": "t", "depends": "a"}, {"name": "end", "template": "t", "depends": "x && a"}])
    lay = layout(build(m))
    assert lay.crossings == 0
    xs = {n: b.x for n, b in lay.boxes.items()}
    assert xs["a"] < xs["b"] < xs["c"] or xs["c"] < xs["b"] < xs["a"]
    assert (xs["z"] < xs["y"] < xs["x"]) == (xs["a"] < xs["c"])


def test_svg_marks_conditions_allowed_failures_and_tells_skipped_from_pending():
    m = _wf([{"name": "a", "template": "t"},
             {"name": "b", "template": "t", "depends": "a", "when": "{{tasks.a.outputs.result}} > 1"},
             {"name": "c", "template": "t", "depends": "a", "continueOn": {"failed": True}},
             {"name": "d", "template": "t", "depends": "b"}])
    root = ET.fromstring(_view.dag_svg(m, {"a": "Succeeded", "b": "Skipped"}))
    groups = {g.get("data-node"): g for g in root.iter(SVG + "g") if g.get("class") == "node"}
    assert groups["b"].get("data-when") == "{{tasks.a.outputs.result}} > 1"
    assert [p for p in groups["b"].iter(SVG + "path") if p.get("class") == "when"]
    assert "runs when: {{tasks.a.outputs.result}} > 1" in groups["b"].find(SVG + "title").text
    assert groups["c"].get("data-allowed") == "true" and "may fail" in "".join(groups["c"].itertext())
    assert "allowed to fail" in groups["c"].find(SVG + "title").text
    rect = {n: g.find(SVG + "rect") for n, g in groups.items()}
    skipped, pending = rect["b"], rect["d"]  # d never reported: drawn as not yet run
    assert groups["d"].get("data-phase") == ""
    root = ET.fromstring(_view.dag_svg(m, {"a": "Succeeded", "b": "Skipped", "d": "Pending"}))
    pending = {g.get("data-node"): g for g in root.iter(SVG + "g") if g.get("class") == "node"}["d"].find(SVG + "rect")
    look = ("fill", "stroke-dasharray")
    assert tuple(skipped.get(k) for k in look) != tuple(pending.get(k) for k in look)
    assert "skipped" in "".join(groups["b"].itertext())


def test_labels_are_xml_escaped_and_titles_keep_full_names():
    evil = 'x"><script>alert(1)</script>&'
    m = _wf([{"name": evil, "template": "t<b>"}])
    svg = _view.dag_svg(m, {evil: "Running"})
    root = ET.fromstring(svg)  # parses: nothing broke out of its element or attribute
    assert "<script>" not in svg and not list(root.iter("script")) and not list(root.iter(SVG + "script"))
    assert _nodes(svg) == {evil: "Running"}
    titles = [t.text for t in root.iter(SVG + "title")]
    assert any(evil in t for t in titles)


def test_phases_colour_nodes_and_maps_sum_their_items(runs):
    run = runs["failed"].run
    phases = {k: s["phase"] for k, s in run.steps.items()}
    svg = _view.dag_svg(run.manifest, phases)
    assert _nodes(svg) == {"square": "Succeeded", "total": "Succeeded", "boom": "Failed"}
    assert "2/2" in svg  # the map node says how many items succeeded
    assert 'fill="#fee2e2"' in svg  # failed colour


def test_ten_thousand_tasks_are_capped_not_hung():
    tasks = [{"name": f"t{i}", "template": "t", **({"depends": f"t{i - 1}"} if i % 100 else {})}
             for i in range(10_000)]
    m = _wf(tasks)
    svg = _view.dag_svg(m, {f"t{i}": "Succeeded" for i in range(0, 10_000, 3)})
    assert len(_nodes(svg)) == _view._svg.MAX_NODES
    assert f"{10_000 - _view._svg.MAX_NODES} more steps not drawn (of 10000" in svg
    mer = _view.dag_mermaid(m)
    assert mer.count(" --> ") < 2000 and "more steps not drawn" in mer


def test_mermaid_ids_are_sanitised_and_labels_quoted():
    m = _wf([{"name": 'a"b', "template": "t"}, {"name": "a-b", "template": "t", "dependencies": ['a"b']},
             {"name": "a_b", "template": "t", "withItems": [1, 2]}])
    text = _view.dag_mermaid(m, {"a-b": "Succeeded", "a_b/0": "Failed"})
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert 'n_a_b["a#quot;b"]' in text and 'n_a_b_3["a-b"]' in text
    assert 'n_a_b_2[["a_b #91;map#93; (0/1)"]]' in text
    assert "n_a_b --> n_a_b_3" in text
    assert "class n_a_b_3 succeeded" in text and "class n_a_b_2 failed" in text
    for line in lines[1:]:  # every id is a plain identifier; every label is inside quotes
        ident = line.strip().split("[", 1)[0].split(" ", 1)[0]
        assert ident.replace("_", "").isalnum() or ident in ("classDef", "class")


def test_nested_dag_templates_are_expanded_with_step_paths():
    inner = {"name": "inner", "dag": {"tasks": [{"name": "x", "template": "t"},
                                                {"name": "y", "template": "t", "depends": "x"}]}}
    m = _wf([{"name": "pre", "template": "t"}, {"name": "sub", "template": "inner", "depends": "pre"},
             {"name": "post", "template": "t", "depends": "sub"}], [inner])
    from flowpack._view._graph import build

    dag = build(m)
    assert sorted(dag.edges) == [("pre", "sub/x"), ("sub/x", "sub/y"), ("sub/y", "post")]
    assert _view.expected_steps(m) == 4


# -- notebook displays ----------------------------------------------------------------------------
def test_run_html_shows_steps_outputs_and_dag(runs):
    html = _view.run_html(runs["ok"])
    assert "Succeeded" in html and "<svg" in html
    assert "square/0" in html and "total" in html
    assert "return=14" in html  # total's output parameter, and the run's output
    failed = _view.run_html(runs["failed"].run)
    assert "cannot &lt;handle&gt; 5" not in failed or "&lt;handle&gt;" in failed
    assert "<handle>" not in failed  # stderr in the message is escaped
    assert "ValueError: bad total" in failed and "exit code 1" not in failed  # the exception, not the exit code
    # a run folder path works too
    assert _view.run_html(runs["ok"].path).count("<tr>") == len(runs["ok"].steps) + 1


def test_workflow_html_and_svg(runs):
    html = _view.workflow_html(runs["mod"].good)
    assert "<svg" in html and "good(items: list = [1, 2, 3]) -&gt; int" in html
    assert _view.workflow_svg(runs["mod"].good).startswith("<svg")


def test_argo_run_snapshot_reads_the_workflow_object(tmp_path):
    from flowpack._argo import ArgoClient, ArgoConfig, ArgoRun

    wf = {"metadata": {"name": "w-abc", "namespace": "ns"},
          "spec": {"entrypoint": "main",
                   "templates": [{"name": "main", "dag": {"tasks": [{"name": "a", "template": "t"}]}},
                                 {"name": "t", "script": {"source": ""}}]},
          "status": {"phase": "Running", "startedAt": "2026-01-01T00:00:00Z", "nodes": {
              "w-abc": {"id": "w-abc", "name": "w-abc", "type": "DAG", "phase": "Running"},
              "w-abc-1": {"id": "w-abc-1", "name": "w-abc.a", "displayName": "a", "type": "Pod", "templateName": "t",
                          "phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z",
                          "finishedAt": "2026-01-01T00:00:03Z",
                          "outputs": {"parameters": [{"name": "return", "value": "<7>"}]}}}}}
    cfg = tmp_path / "argo.toml"
    cfg.write_text("")
    client = ArgoClient(ArgoConfig.resolve(server="argo.example:2746", namespace="ns", env={},
                                    config_file=cfg))
    html = _view.run_html(ArgoRun(client, "w-abc", namespace="ns", workflow=wf))
    assert 'href="https://argo.example:2746/workflows/ns/w-abc"' in html
    assert "return=&lt;7&gt;" in html and "3.0s" in html and 'data-phase="Succeeded"' in html


def test_step_failure_display_names_step_and_stderr_without_wrapper_frames(runs):
    lines = _view.render_traceback(runs["failed"])
    text = "\n".join(lines)
    assert lines[0].startswith("\x1b[31m\x1b[1mStepFailed\x1b[0m: run bad-")
    assert "- step boom" in text and "cannot <handle> 5" in text and "ValueError: bad total" in text
    assert "Traceback (most recent call last)" not in text and "Traceback in step boom" in text
    assert "_fp_main" not in text and 'raise ValueError' in text


# -- progress -----------------------------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_redraws_one_line():
    out = _Tty()
    bar = _view.ProgressBar(stream=out, total=3)
    for node, phase in [("a", "Running"), ("a", "Succeeded"), ("b", "Running"), ("b", "Succeeded"), ("c", "Skipped")]:
        bar({"node": node, "phase": phase})  # the events an engine, or wait(), sends
    bar.close("Succeeded")
    text = out.getvalue()
    assert text.count("\r\x1b[K") >= 3 and text.endswith("\n") and text.count("\n") == 1
    assert "run [" + "-" * 20 + "] 0/3 steps · running: a" in text
    assert "run [" + "#" * 7 + "-" * 13 + "] 1/3 steps · running: b" in text
    assert text.rsplit("\r\x1b[K", 1)[1].endswith("run Succeeded: 3/3 steps (2 succeeded, 1 skipped) · skipped: c\n")


def test_progress_bar_without_a_plan_grows_unknown_totals():
    out = io.StringIO()
    bar = _view.ProgressBar(stream=out, heartbeat=3600)
    assert bar.mode == "lines"
    for node, phase in [("a", "Running"), ("a", "Succeeded"), ("b", "Failed")]:
        bar({"node": node, "phase": phase})  # the local engine's progress events
    assert bar.numbers() == (2, 2) and bar.tally().open
    bar.close("Failed")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("] a Succeeded") and lines[1].endswith("] b Failed")
    assert lines[-1].endswith("run Failed: 2/2 steps (1 succeeded, 1 failed) · failed: b")


def test_progress_bar_html_and_engine_callback(runs):
    bar = _view.ProgressBar(stream=io.StringIO(), mode="lines", run_dir=runs["dir"], heartbeat=3600)
    run = runs["mod"].good.run(run_dir=runs["dir"], progress=bar)
    assert bar.label == "good" and bar.plan is not None  # the plan came from the run folder's manifest.json
    bar.close(run.phase, run.steps)
    assert bar.numbers() == (4, 4)
    html = bar.html()
    assert "width:100.0%" in html and "good Succeeded: 4/4 steps (4 succeeded)" in html


def test_map_totals_come_from_the_plan_before_items_start():
    manifest = _wf([{"name": "make", "template": "make"},
                    {"name": "sq", "template": "sq", "depends": "make",
                     "withParam": "{{tasks.make.outputs.parameters.return}}"},
                    {"name": "fixed", "template": "sq", "withItems": [1, 2, 3]},
                    {"name": "end", "template": "sq", "depends": "sq && fixed"}])
    outputs = {"make": StepFolderRecord.from_json({"phase": "Succeeded",
                                                   "outputs": {"parameters": {"return": json.dumps(list(range(12)))}}})}
    plan = _view.Plan(manifest)
    before = plan.tally({})
    assert (before.done, before.total, before.open) == (0, 6, True)  # make, sq (1 while unknown), fixed 3, end
    t = plan.tally({"make": "Succeeded", "fixed/0": "Running"}, outputs.get)
    assert (t.done, t.total, t.open) == (1, 17, False)  # sq's 12 items known from make's output
    rows = {r.node: r for r in plan.rows({"make": "Succeeded", "fixed/0": "Running"}, outputs.get)}
    assert [r.node for r in plan.rows({})] == ["make", "fixed", "sq", "end"]
    assert (rows["sq"].phase, rows["sq"].detail) == ("Pending", "0/12")
    assert (rows["fixed"].phase, rows["fixed"].detail) == ("Running", "0/3")
    assert rows["end"].phase == "Pending"


# -- run folders and the ui server ----------------------------------------------------------------
def test_run_folder_reader(runs):
    listed = _view.list_runs(runs["dir"])
    assert {r["workflow"] for r in listed} == {"good", "bad"}
    bad = next(r for r in listed if r["workflow"] == "bad")
    assert bad["phase"] == "Failed" and bad["counts"] == {"Succeeded": 3, "Failed": 1}
    detail = _view.step_detail(runs["dir"], bad["id"], "boom")
    assert detail["step"]["exitCode"] == 1 and "cannot <handle> 5" in detail["stderr"]["text"]
    assert detail["step"]["inputs"]["parameters"] == {"t": "5"}
    for bad_node in ("../boom", "boom/../../..", "/etc", ""):
        with pytest.raises(_view.NotFound):
            _view.step_detail(runs["dir"], bad["id"], bad_node)
    with pytest.raises(_view.NotFound):
        _view.load_run(runs["dir"], "..")


def test_live_steps_from_step_folders_while_running(runs, tmp_path):
    import shutil

    src = runs["ok"].path
    dst = tmp_path / "runs" / src.name
    shutil.copytree(src, dst)
    rec = json.loads((dst / "run.json").read_text())
    rec.update(phase="Running", steps={}, finishedAt=None)
    (dst / "run.json").write_text(json.dumps(rec))
    (dst / "steps" / "total" / "step.json").unlink()  # total "is still running": a folder with stdout, no step.json
    data = _view.load_run(tmp_path / "runs", src.name)
    items = {k: "Succeeded" for k in runs["ok"].steps if k != "total"}  # the map's items, as the engine names them
    assert len(items) == 3 and data["phases"] == {**items, "total": "Running"}
    assert data["expected"] is None  # withParam: not known before running


def _get(u: str, host: str | None = None):
    req = urllib.request.Request(u, headers={"Host": host} if host else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, dict(r.headers), r.read()


def test_ui_server_endpoints(runs):
    server = make_server(runs["dir"], 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = url(server)
    try:
        assert base.startswith("http://127.0.0.1:")
        status, headers, body = _get(base)
        assert status == 200 and b"/app.js" in body and "script-src 'self'" in headers["Content-Security-Policy"]
        data = json.loads(_get(base + "api/runs")[2])
        bad = next(r for r in data["runs"] if r["workflow"] == "bad")
        one = json.loads(_get(base + "api/runs/" + bad["id"])[2])
        assert one["record"]["phase"] == "Failed" and "store" not in one["record"]
        first = min((k for k in runs["failed"].run.steps if k.endswith("/0")), key=len)
        assert f'href="#/run/{bad["id"]}/step/{first}"' in one["dag_svg"]  # a map links to its first item
        assert [r["node"] for r in one["rows"] if not r.get("item")] == ["square", "total", "boom"]  # DAG order
        assert next(r for r in one["rows"] if r["node"] == "square")["detail"] == "2/2"
        step = json.loads(_get(base + f"api/runs/{bad['id']}/steps/boom")[2])
        assert "cannot <handle> 5" in step["stderr"]["text"] and "cwd" not in step["step"]
        for path in ("api/runs/nope", f"api/runs/{bad['id']}/steps/..%2F..%2Frun.json", "etc/passwd"):
            with pytest.raises(urllib.error.HTTPError) as info:
                _get(base + path)
            assert info.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as info:  # DNS rebinding: a foreign Host is refused
            _get(base + "api/runs", host="attacker.example")
        assert info.value.code == 403
    finally:
        server.shutdown()
        server.server_close()


def test_ui_command_parses_and_reports_a_busy_port(runs, capsys):
    parser = argparse.ArgumentParser(prog="flowpack")
    _cli_view.add_commands(parser.add_subparsers(dest="command"))
    busy = make_server(runs["dir"], 0)
    try:
        args = parser.parse_args(["ui", "--run-dir", str(runs["dir"]), "--port", str(busy.server_address[1])])
        assert args.func(args) == 1
        assert "Pick another port with --port" in capsys.readouterr().err
    finally:
        busy.server_close()


def test_render_dag_formats(runs):
    m = runs["ok"].manifest
    assert _view.render_dag(m, "svg").startswith("<svg")
    assert _view.render_dag(m, "mermaid").startswith("flowchart TD")
    with pytest.raises(ValueError):
        _view.render_dag(m, "png")
    assert _view.run_phases(runs["dir"], runs["ok"].id)["total"] == "Succeeded"
