"""The main job: run every example workflow on the embedded local engine and show what each returned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
JOBS = [
    ("quickstart.py:pipeline", ["-p", "n=5"]),
    ("hello_shell.py:hello_world", ["-p", "msg=Hello, world", "-p", "number=42"]),
    ("hello_shell.py:two_at_once", []),
    ("model_sweep.py:sweep", []),  # needs scikit-learn here: `make demo` installs the [examples] extra
]


def main() -> int:
    failed = 0
    for target, params in JOBS:
        print(f"== flowpack run examples/{target} {' '.join(params)}", flush=True)
        code = subprocess.call([sys.executable, "-m", "flowpack", "run", str(HERE / target), *params])
        failed += code != 0
    print(f"{len(JOBS) - failed} of {len(JOBS)} example workflows succeeded")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
