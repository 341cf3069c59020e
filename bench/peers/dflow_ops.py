"""dflow's OP functions for the benchmark, in a module of their own: dflow copies an op's whole module into its script."""

from dflow.python import OP


@OP.function
def inc(x: int) -> {"y": int}:
    return {"y": x + 1}


@OP.function
def make_list(n: int) -> {"items": list}:
    return {"items": list(range(n))}
