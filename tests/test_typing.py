"""Type checkers see an op as its function: `@fp.op` keeps the signature (ParamSpec), so mypy knows `add(1, 2)` is an
int and refuses `add("x")`, with or without decorator options (a retry policy and a cache's max age included)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import flowpack

SNIPPET = '''
import flowpack as fp

@fp.op
def add(a: int, b: int = 1) -> int:
    return a + b

@fp.op(retries=2, cpu=1)
def greet(name: str) -> str:
    return "hi " + name

@fp.op(retries=fp.Retry(limit=2, on="failure"), cache="24h")
def shout(name: str) -> str:
    return name.upper()

reveal_type(add(1, 2))
reveal_type(greet("x"))
reveal_type(shout("x"))
add("x")
'''


def test_op_keeps_the_function_signature_for_mypy(tmp_path):
    (tmp_path / "snippet.py").write_text(SNIPPET)
    env = {**os.environ, "MYPYPATH": str(Path(flowpack.__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
                           "--cache-dir", str(tmp_path / "cache"), "snippet.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    found = [re.sub(r"^snippet\.py:\d+: ", "", line).replace("builtins.", "") for line in done.stdout.splitlines()]
    assert found == [
        'note: Revealed type is "int"',
        'note: Revealed type is "str"',
        'note: Revealed type is "str"',
        'error: Argument 1 to "__call__" of "Op" has incompatible type "str"; expected "int"  [arg-type]',
    ], done.stdout + done.stderr
