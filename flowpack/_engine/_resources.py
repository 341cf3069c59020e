"""Check a manifest's resource requests against this machine before anything runs."""

from __future__ import annotations

import os
import shutil

from .._errors import ResourceError
from .._options import quantity_value


def machine() -> dict:
    """CPUs, memory in bytes and GPUs of this machine (GPUs: NVIDIA devices visible here)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    gpus = 0
    if shutil.which("nvidia-smi") or os.path.exists("/dev/nvidia0"):
        gpus = len([d for d in os.listdir("/dev") if d.startswith("nvidia") and d[6:].isdigit()])
    return {"cpu": os.cpu_count() or 1, "memory": memory, "gpu": gpus}


def check_resources(manifest: dict, have: dict | None = None) -> None:
    """Raise ResourceError naming the step and what it asks for when this machine can't give it."""
    have = have or machine()
    for tpl in (manifest.get("spec") or {}).get("templates") or []:
        spec = tpl.get("script") or tpl.get("container") or {}
        res = spec.get("resources") or {}
        asks = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        name = tpl.get("name")
        if "cpu" in asks and quantity_value(str(asks["cpu"])) > have["cpu"]:
            raise ResourceError(f"step {name!r} asks for {asks['cpu']} CPUs; this machine has {have['cpu']}. "
                                f"Lower cpu= or run it on a cluster.")
        if "memory" in asks and have["memory"] and quantity_value(str(asks["memory"])) > have["memory"]:
            raise ResourceError(f"step {name!r} asks for {asks['memory']} of memory; this machine has "
                                f"{have['memory'] / 2**30:.1f} GiB. Lower memory= or run it on a cluster.")
        gpu = (res.get("limits") or {}).get("nvidia.com/gpu") or (res.get("requests") or {}).get("nvidia.com/gpu")
        if gpu and int(gpu) > have["gpu"]:
            found = f"{have['gpu']} GPU(s)" if have["gpu"] else "no NVIDIA GPU"
            raise ResourceError(f"step {name!r} asks for {gpu} GPU(s) (nvidia.com/gpu); this machine has {found}. "
                                f"Run it where a GPU is, or drop gpu= to run on the CPU.")
