"""Helpers for the tests of examples/: load an example file as a module, and an independent oracle for the model
sweep (the same SVC models trained here, in the test process) that the sweep's results are checked against."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def load_example(stem: str, alias: str | None = None):
    """Import examples/<stem>.py as a fresh module (registered in sys.modules: ops capture their module's source)."""
    name = alias or f"fp_example_{stem}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def unload(module) -> None:
    sys.modules.pop(module.__name__, None)


def notebook_cell(nb, source_start: str):
    """An executed notebook's first code cell whose source starts with `source_start`."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(source_start):
            return cell
    raise AssertionError(f"no cell starting with {source_start!r}")


def displayed(cell, mime: str = "text/plain") -> str:
    """What an executed cell displayed (its result and display_data outputs) as `mime`."""
    return "".join(o.get("data", {}).get(mime, "") for o in cell.outputs
                   if o.output_type in ("execute_result", "display_data"))


@dataclass(frozen=True)
class Score:
    """One grid point's accuracies, as the oracle computed them."""

    params: dict
    train_accuracy: float
    test_accuracy: float


def key(params: dict) -> tuple:
    """A grid point as a key: numbers compared as numbers (Argo re-encodes map items, so 10.0 comes back as 10)."""
    return tuple(sorted((name, float(value)) for name, value in params.items()))


def oracle(grid: list[dict], test_size: float = 0.25, seed: int = 0) -> dict[str, Score]:
    """Train every grid point here with scikit-learn directly (no flowpack): grid point key -> Score."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    scores = {}
    for params in grid:
        model = SVC(**params).fit(x_tr, y_tr)
        scores[key(params)] = Score(params, float(model.score(x_tr, y_tr)), float(model.score(x_te, y_te)))
    return scores


def item_outputs(run_path: Path, template: str = "train") -> list[dict]:
    """The output parameters of every succeeded step of `template` in a local run folder (its step.json files)."""
    found = []
    for record in sorted(Path(run_path, "steps").rglob("step.json")):
        step = json.loads(record.read_text())
        if step.get("template") == template and step.get("phase") == "Succeeded":
            found.append(step["outputs"]["parameters"])
    return found


def check_sweep(run_path: Path, best_params: dict, best_accuracy: float, report: str, grid: list[dict]) -> None:
    """The sweep's result against the oracle: every map item's scores, the best = the max of them, the report table."""
    expected = oracle(grid)
    items = item_outputs(run_path)
    assert len(items) == len(grid), f"expected one train step per grid point, found {len(items)}"
    seen = {}
    for out in items:
        params = json.loads(out["params"])
        want = expected[key(params)]
        assert abs(float(out["test_accuracy"]) - want.test_accuracy) < 1e-9, (params, out)
        assert abs(float(out["train_accuracy"]) - want.train_accuracy) < 1e-9, (params, out)
        assert 0.5 < float(out["test_accuracy"]) <= 1.0, f"accuracy out of a sane range: {out}"
        seen[key(params)] = float(out["test_accuracy"])
    assert set(seen) == set(expected), "every grid point was trained exactly once"
    top = max(seen.values())
    assert best_accuracy == top and seen[key(best_params)] == top, (best_params, best_accuracy, seen)
    assert best_accuracy > 0.95, "an SVC on digits reaches more than 95% at its best grid point"

    lines = report.splitlines()
    assert lines[0] == "# Model sweep: SVC on scikit-learn's digits"
    assert f"with test accuracy {top:.4f} ({len(grid)} models)" in report
    rows = [ln for ln in lines if ln.startswith("| ") and ln.split("|")[1].strip().isdigit()]  # ranked rows
    assert len(rows) == len(grid)
    ranked = sorted(expected.values(), key=lambda s: s.test_accuracy, reverse=True)
    for rank, (row, score) in enumerate(zip(rows, ranked), 1):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells == [str(rank), f"{score.params['C']:g}", f"{score.params['gamma']:g}",
                         f"{score.train_accuracy:.4f}", f"{score.test_accuracy:.4f}"], row
