"""Per-step cost of the Docker engine on a chain of trivial steps, against a bare `docker run --rm IMAGE python -c pass`.

    python bench/bench_docker.py [--steps 10] [--repeat 5] [--image python:3.11-slim]

Both sides run on the same daemon in the same process: the baseline is the docker SDK's
`containers.run(IMAGE, ["python", "-c", "pass"], remove=True)`, one container after another; the engine runs a
chain of `inc` steps (each depends on the previous one, so nothing overlaps). Prints medians and their ratio.
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

CHAIN = '''
import flowpack as fp


@fp.op
def inc(x: int) -> int:
    return x + 1


@fp.workflow
def chain(n: int = 0):
    x = inc(n)
    for _ in range({steps} - 1):
        x = inc(x)
    return x
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps in the chain (default 10)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs of each side (default 5, at least 5)")
    parser.add_argument("--image", default="python:3.11-slim", help="image of both sides")
    args = parser.parse_args(argv)
    repeat = max(5, args.repeat)

    import docker

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from flowpack._engine.docker import DockerEngine

    client = docker.from_env()
    client.images.get(args.image)
    work = Path(tempfile.mkdtemp(prefix="flowpack-bench-docker-"))
    (work / "bench_chain.py").write_text(textwrap.dedent(CHAIN.format(steps=args.steps)))
    sys.path.insert(0, str(work))
    import bench_chain

    assert bench_chain.inc.image == args.image or args.image == "python:3.11-slim", "the chain uses the default image"
    engine = DockerEngine(run_dir=work / "runs", client=client)

    def bare() -> float:
        t = time.perf_counter()
        client.containers.run(args.image, ["python", "-c", "pass"], remove=True)
        return time.perf_counter() - t

    def chain() -> float:
        t = time.perf_counter()
        run = bench_chain.chain.run(engine=engine)
        elapsed = time.perf_counter() - t
        assert run.result() == args.steps, run.result()
        return elapsed / args.steps

    bare(), chain()  # warm up: page cache, image layers, imports, script rendering
    base_times, step_times = [], []
    for _ in range(repeat):  # interleaved, so a slow patch of the machine hits both sides
        base_times.append(statistics.median(bare() for _ in range(args.steps)))
        step_times.append(chain())
    base, step = statistics.median(base_times), statistics.median(step_times)
    print(f"image {args.image}, docker SDK {docker.__version__}, {repeat} runs of {args.steps} steps each")
    print(f"bare containers.run(python -c pass, remove=True): median {base * 1000:7.1f} ms per container "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in base_times)})")
    print(f"docker engine, chain of trivial steps:           median {step * 1000:7.1f} ms per step "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in step_times)})")
    print(f"ratio engine/bare: {step / base:.2f} (target <= 1.2)")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
