"""Per-op execution options (retries, timeout, resources, placement, environment, caching) and their Argo form."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ._engine._gojson import format_float
from ._errors import OpDefinitionError
from ._retry import Retry

_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SECONDS = (2**63 - 1) / 1e9  # Go's time.Duration, which Argo parses backoff and deadlines into
_UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: object, what: str, where: str) -> str:
    """A Kubernetes quantity as text ("500m", "2", "4Gi"); numbers are accepted as they are."""
    text = str(value)
    if isinstance(value, bool) or not _QUANTITY.match(text):
        raise OpDefinitionError(f"{where}: {what}={value!r} is not a Kubernetes quantity; use e.g. 2, '500m' or '4Gi'.")
    return text


def _cache(value: object, where: str) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and re.match(r"^[0-9]+(s|m|h)$", value):
        return value
    raise OpDefinitionError(f"{where}: cache={value!r}: give True, or how long results stay valid, e.g. '24h'.")


def duration_text(seconds: float) -> str:
    """A Go duration Argo's ParseStringToDuration reads: positional digits, never an exponent (`1e-05s`)."""
    if seconds < 1e-6:
        return f"{max(1, round(seconds * 1e9))}ns"
    return format_float(float(seconds)) + "s"


def quantity_value(text: str) -> float:
    """The number a Kubernetes quantity stands for ('500m' -> 0.5, '1Gi' -> 2**30); ValueError for anything else."""
    m = _QUANTITY.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity such as '500m' or '1Gi'")
    return float(m.group(1)) * _UNITS[m.group(3)]


@dataclass(frozen=True)
class Options:
    """How a step runs: the same meaning on the local engine, in Docker and on Argo."""

    retries: int = 0
    backoff: float | None = None  # seconds before the first retry; doubles each time
    timeout: float | None = None  # seconds: activeDeadlineSeconds
    cpu: str | None = None
    memory: str | None = None
    gpu: int = 0
    env: dict = field(default_factory=dict)
    secret_env: dict = field(default_factory=dict)  # VAR -> (secret name, key)
    node_selector: dict = field(default_factory=dict)
    tolerations: tuple = ()
    cache: bool | str = False  # True, or how long a cached result stays valid ("24h"); True means a year
    retry: Retry | None = None  # retries=fp.Retry(...): the policy beyond a number of retries

    @classmethod
    def make(cls, where: str, *, retries=0, backoff=None, timeout=None, cpu=None, memory=None, gpu=0, env=None,
             secret_env=None, node_selector=None, tolerations=(), cache=False) -> "Options":
        retry = None
        if isinstance(retries, Retry):  # a policy: on which failures, exit codes, backoff cap, max duration
            if backoff is not None:
                raise OpDefinitionError(f"{where}: give the backoff inside fp.Retry(..., backoff=...), not beside it.")
            retry = retries.check(where, MAX_SECONDS)
            retries = retry.limit
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise OpDefinitionError(f"{where}: retries={retries!r} must be a whole number >= 0 or an fp.Retry(...).")
        for name, value in (("backoff", backoff), ("timeout", timeout)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 < value <= MAX_SECONDS):
                raise OpDefinitionError(f"{where}: {name}={value!r} must be a positive number of seconds "
                                        f"(at most {MAX_SECONDS:.0f}, about 290 years: Go's longest duration).")
        if not isinstance(gpu, int) or isinstance(gpu, bool) or gpu < 0:
            raise OpDefinitionError(f"{where}: gpu={gpu!r} must be a whole number of GPUs.")
        env = dict(env or {})
        for k, v in env.items():
            if not _ENV.match(str(k)) or not isinstance(v, str):
                raise OpDefinitionError(f"{where}: env {k!r}={v!r}: names must be identifiers and values strings.")
        secrets = {}
        for k, v in (secret_env or {}).items():
            pair = isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, str) for x in v)
            if not _ENV.match(str(k)) or not pair:
                raise OpDefinitionError(f"{where}: secret_env {k!r}: give (secret name, key), "
                                        f"e.g. secret_env={{'TOKEN': ('api', 'token')}}.")
            secrets[k] = v
        return cls(retries, backoff, timeout, quantity(cpu, "cpu", where) if cpu is not None else None,
                   quantity(memory, "memory", where) if memory is not None else None, gpu, env, secrets,
                   dict(node_selector or {}), tuple(dict(t) for t in tolerations), _cache(cache, where), retry)

    def template_fields(self) -> dict:
        """Top-level Argo template fields."""
        out: dict = {}
        if self.retry is not None and self.retries:
            out["retryStrategy"] = self.retry.strategy(duration_text)
        elif self.retries:
            strategy: dict = {"limit": str(self.retries), "retryPolicy": "Always"}
            if self.backoff:
                strategy["backoff"] = {"duration": duration_text(self.backoff), "factor": "2"}
            out["retryStrategy"] = strategy
        if self.timeout:
            out["activeDeadlineSeconds"] = str(math.ceil(self.timeout))  # Argo takes whole seconds
        if self.node_selector:
            out["nodeSelector"] = {str(k): str(v) for k, v in self.node_selector.items()}
        if self.tolerations:
            out["tolerations"] = list(self.tolerations)
        return out

    def resources(self) -> dict | None:
        requests, limits = {}, {}
        if self.cpu:
            requests["cpu"] = self.cpu
        if self.memory:
            requests["memory"] = limits["memory"] = self.memory
        if self.gpu:
            limits["nvidia.com/gpu"] = str(self.gpu)
        if not requests and not limits:
            return None
        res = {}
        if requests:
            res["requests"] = requests
        if limits:
            res["limits"] = limits
        return res

    def env_entries(self) -> list[dict]:
        entries = [{"name": k, "value": v} for k, v in self.env.items()]
        entries += [{"name": k, "valueFrom": {"secretKeyRef": {"name": s, "key": key}}}
                    for k, (s, key) in self.secret_env.items()]
        return entries
