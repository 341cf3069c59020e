"""A hyperparameter sweep with scikit-learn: one step per model, the best one picked, a report written.

The data is scikit-learn's bundled digits dataset (no download). One step splits it, a map trains one support
vector classifier per point of the grid (in parallel, each in its own step), and a last step picks the best and
writes a markdown report.

Run it here:      flowpack run examples/model_sweep.py:sweep
Run it in Docker: flowpack build examples/model_sweep.py && flowpack run examples/model_sweep.py:sweep --engine docker
Change the grid:  flowpack run examples/model_sweep.py:sweep -p 'grid=[{"C": 1.0, "gamma": 0.001}]'
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

import flowpack as fp

# Pinned: the image has exactly this version (flowpack pins numpy itself, to the version installed where you build).
SKLEARN = "scikit-learn==1.9.1"

# Support vector classifiers: regularisation C times RBF kernel coefficient gamma (too large a gamma overfits).
GRID = [{"C": c, "gamma": g} for c in (1.0, 10.0) for g in (0.0001, 0.001, 0.01)]


class Score(NamedTuple):
    """What each trainer reports: the grid point it trained and its accuracy on both halves of the split."""

    params: dict
    train_accuracy: float
    test_accuracy: float


class Best(NamedTuple):
    """The sweep's result: the winning grid point, its test accuracy and the report file."""

    params: dict
    accuracy: float
    report: Path


@fp.op(packages=[SKLEARN])
def split(test_size: float = 0.25, seed: int = 0) -> Path:
    """The digits dataset, split once (stratified) and saved as one .npz file that every trainer reads."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    out = Path("digits.npz")
    np.savez_compressed(out, x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test)
    return out


@fp.op(packages=[SKLEARN])
def train(data: Path, params: dict) -> Score:
    """One model for one grid point; only its scores leave the step (a map gathers parameters, not files)."""
    from sklearn.svm import SVC

    d = np.load(data)
    model = SVC(**params).fit(d["x_train"], d["y_train"])
    return Score(params, float(model.score(d["x_train"], d["y_train"])), float(model.score(d["x_test"], d["y_test"])))


@fp.op
def pick_best(params: list, train_accuracy: list, test_accuracy: list) -> Best:
    """The grid point with the best test accuracy, and a markdown table of every score (best first)."""
    rows = sorted(zip(params, train_accuracy, test_accuracy), key=lambda r: r[2], reverse=True)
    best = rows[0]
    lines = ["# Model sweep: SVC on scikit-learn's digits", "",
             f"Best: `{best[0]}` with test accuracy {best[2]:.4f} ({len(rows)} models).", "",
             "| rank | C | gamma | train accuracy | test accuracy |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for rank, (p, tr, te) in enumerate(rows, 1):
        lines.append(f"| {rank} | {p['C']:g} | {p['gamma']:g} | {tr:.4f} | {te:.4f} |")
    report = Path("report.md")
    report.write_text("\n".join(lines) + "\n")
    print(f"best of {len(rows)} models: {best[0]} (test accuracy {best[2]:.4f})")  # the step's log
    return Best(best[0], best[2], report)


@fp.workflow
def sweep(grid: list = GRID, test_size: float = 0.25, seed: int = 0) -> Best:
    data = split(test_size, seed)
    scores = train.map(data=data, params=grid)  # one step per grid point; the other arguments are shared
    return pick_best(scores.params, scores.train_accuracy, scores.test_accuracy)


if __name__ == "__main__":
    best = sweep.run().result()  # the embedded local engine; sweep.run(engine="docker") runs it in containers
    print("best:", best.params, "test accuracy", round(best.accuracy, 4))
    print(best.report.read_text())
