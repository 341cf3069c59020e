"""README.md's Python blocks, run as a reader pastes them: each block in a fresh script, after the README's first
example (which imports flowpack and defines `add` and `pipeline`), in an empty folder.

Blocks that need an Argo Server run against the Argo test double (tests/argo_double.py), reached through the
ARGO_* variables the README names. Blocks that can't run here are listed in EXCLUDED with the reason; a README block
that is neither runnable nor excluded fails the test, so a new block is either runnable or explained.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from argo_double import TOKEN, argo_server, argo_store  # noqa: F401
from fixtures_s3 import s3_server, s3_store  # noqa: F401

README = Path(__file__).resolve().parents[1] / "README.md"

# first line of a block -> why it is not run here
EXCLUDED = {
    "@fp.op                                        # bare":
        "a catalogue of @fp.op's options, not a program: gpu=1 and memory='4Gi' are refused on a machine without "
        "them, and secret_env, node_selector and tolerations only mean something on a cluster "
        "(each option is tested in tests/test_op.py and tests/test_manifest.py)",
    "from dflow import (":
        "dflow's code, shown beside the flowpack code that replaces it: it needs dflow and an Argo Server (the README "
        "says how it was checked)",
    'SKLEARN = "scikit-learn':
        "an outline of examples/model_sweep.py with the function bodies left out (`...`); the file itself runs in "
        "tests/test_examples.py",
    "store = fp.S3(":
        "needs the S3 server it names (minio.example:9000); the S3 store is tested against a real SeaweedFS in "
        "tests/test_store_s3.py and tests/test_store_engine.py",
}
ARGO_CALLS = (".submit(", ".register(", ".schedule(")  # a block using one runs against the Argo test double


@dataclass
class Block:
    line: int  # README line of the block's first code line
    source: str

    @property
    def first(self) -> str:
        return self.source.splitlines()[0] if self.source else ""


def python_blocks(text: str) -> list[Block]:
    blocks, current, start = [], None, 0
    for i, line in enumerate(text.splitlines(), 1):
        if current is None and re.match(r"^```python\s*$", line):
            current, start = [], i + 1
        elif current is not None and line.startswith("```"):
            blocks.append(Block(start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))
FIRST = BLOCKS[0]


def _excluded(block: Block) -> str | None:
    return next((why for start, why in EXCLUDED.items() if block.first.startswith(start)), None)


def _run(block: Block, tmp_path: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The README's first block, then `block`, as one script in an empty folder."""
    script = tmp_path / "pasted.py"
    body = FIRST.source if block is FIRST else FIRST.source + "\n" + block.source
    script.write_text(body, encoding="utf-8")
    import os

    full_env = {**os.environ, **(env or {})}
    for key in [k for k in full_env if k.startswith("ARGO_") and not (env or {}).get(k)]:
        full_env.pop(key)  # never a developer's own Argo settings
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=full_env, capture_output=True,
                          text=True, timeout=300)


def _explain(block: Block, done: subprocess.CompletedProcess) -> str:
    return (f"README.md block at line {block.line} (script = the first block, then this one) exited "
            f"{done.returncode}:\n{done.stderr[-4000:]}")


def test_every_block_is_runnable_or_excluded_with_a_reason():
    assert len(BLOCKS) >= 4 and FIRST.first.startswith("import flowpack as fp")
    for start in EXCLUDED:  # an exclusion for a block that no longer exists is stale
        assert any(b.first.startswith(start) for b in BLOCKS), f"EXCLUDED names no README block: {start!r}"


def _needs_argo(block: Block) -> bool:
    return any(call in block.source for call in ARGO_CALLS)


@pytest.mark.parametrize("block", [b for b in BLOCKS if not _excluded(b) and not _needs_argo(b)],
                         ids=lambda b: f"line{b.line}")
def test_block_runs_as_pasted(block, tmp_path):
    done = _run(block, tmp_path)
    assert done.returncode == 0, _explain(block, done)


@pytest.mark.parametrize("block", [b for b in BLOCKS if not _excluded(b) and _needs_argo(b)],
                         ids=lambda b: f"line{b.line}")
def test_argo_block_runs_against_the_argo_double(block, tmp_path, argo_server):  # noqa: F811
    env = {"ARGO_SERVER": argo_server.address, "ARGO_TOKEN": TOKEN, "ARGO_SECURE": "false",
           "ARGO_NAMESPACE": "argo"}
    done = _run(block, tmp_path, env)
    assert done.returncode == 0, _explain(block, done)
    assert TOKEN not in done.stdout + done.stderr
    if "run.wait(" in block.source:  # ArgoRun.wait shows the shared progress display, here as log lines
        assert re.search(r"\] \S+ Succeeded: (\d+)/\1 steps \(\1 succeeded\)", done.stderr), done.stderr
    kinds = {collection for collection, _, _ in argo_server.objects}
    assert "workflows" in kinds  # the block reached the double
