"""Turn a built workflow into what the Argo Server receives: uploads done, artifact locations filled, kind chosen.

Artifact repository, two ways:
- "cluster" (default): the cluster's configured repository (optionally a named one through `artifactRepositoryRef`).
  Input files are uploaded to the given store, which must be the same bucket; the manifest keeps key-only
  s3 artifacts, which Argo resolves against that repository.
- "store": every input and output artifact gets the full S3 location from `store.to_argo(key)`, whose
  credentials are Kubernetes secret references (accessKeySecret/secretKeySecret), never the keys themselves.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from .._bigvalue import UPLOAD_PREFIX
from .._names import VALID
from ._errors import ArgoArtifactError, ArgoConfigError

OUTPUT_PREFIX = "flowpack/runs"  # where outputs go in "store" mode: <prefix>/<workflow>/<pod>/<name>[.tgz]
KEY_FORMAT = "{{workflow.name}}/{{pod.name}}"  # Argo's default keyFormat, used for outputs in "store" mode


def upload_inputs(built, store) -> dict:
    """Put the workflow's local input files into the store under their content keys; returns key -> ArtifactRef."""
    if not built.uploads:
        return {}
    if store is None:
        names = sorted(str(p) for p in built.uploads.values())
        raise ArgoArtifactError(
            f"the workflow has local input files ({', '.join(names)}), which must be uploaded before Argo can read "
            f"them: pass store=fp.S3(endpoint, bucket, secret_name=...) for the cluster's artifact bucket "
            f"(on the command line: --store s3://BUCKET/PREFIX)."
        )
    refs = {}
    for key, path in built.uploads.items():
        path = Path(path)
        if path.is_dir():
            refs[key] = store.put(path, key)  # the manifest's key is the tree's digest; the store packs it
        else:
            ref = store.put_content(path, prefix=key.rsplit("/", 1)[0])
            if ref.key != key:
                raise ArgoArtifactError(f"input {path}: the store keyed it {ref.key!r}, the manifest says {key!r}")
            refs[key] = ref
    return refs


def locate(manifest: dict, *, store=None, repository: str | dict | None = None) -> dict:
    """A copy of the manifest with artifact locations set for the chosen repository (see module doc)."""
    manifest = copy.deepcopy(manifest)
    spec = manifest.setdefault("spec", {})
    mode = "cluster"
    if isinstance(repository, dict):
        ref = {k: v for k, v in repository.items() if k in ("configMap", "key") and v}
        if not ref or set(repository) - {"configMap", "key"}:
            raise ArgoConfigError(
                f"artifact_repository={repository!r}: a repository reference is {{'configMap': NAME, 'key': KEY}} "
                f"(the ConfigMap listing the cluster's artifact repositories)"
            )
        spec["artifactRepositoryRef"] = ref
    elif repository in (None, "cluster"):
        pass
    elif repository == "store":
        mode = "store"
    else:
        raise ArgoConfigError(f"artifact_repository={repository!r}: use 'cluster', 'store' or "
                              f"{{'configMap': ..., 'key': ...}}")
    prefix = getattr(store, "prefix", "") or ""
    if mode == "cluster" and prefix:  # Argo reads bucket keys; the store adds its prefix to what it writes
        for art in (spec.get("arguments") or {}).get("artifacts") or []:
            s3 = art.get("s3")
            if isinstance(s3, dict) and set(s3) == {"key"}:
                s3["key"] = prefix + s3["key"]
        for tpl in spec.get("templates") or []:  # files and big values a task is given, uploaded by content
            for task in (tpl.get("dag") or {}).get("tasks") or []:
                for art in (task.get("arguments") or {}).get("artifacts") or []:
                    s3 = art.get("s3")
                    if isinstance(s3, dict) and set(s3) == {"key"} and _uploaded(s3["key"]):
                        s3["key"] = prefix + s3["key"]
                _prefix_uploaded_items(task, prefix)
    if mode == "store":
        if store is None or not hasattr(store, "to_argo"):
            raise ArgoConfigError(
                "artifact_repository='store' needs an S3 store that can describe itself to Argo (store.to_argo): "
                "pass store=fp.S3(endpoint, bucket, secret_name=...), secret_name naming the Kubernetes secret that "
                "holds its accesskey and secretkey (on the command line: --store s3://BUCKET/PREFIX)"
            )
        _fill_locations(spec, store)
    return manifest


_ITEM_KEY = re.compile(r"\{\{item(?:\.([-\w]+))?\}\}")  # an artifact keyed by a loop's item: {{item}}, {{item.f}}


def _prefix_uploaded_items(task: dict, prefix: str) -> None:
    """A map over a literal list of local files or folders loops over their upload keys (`withItems`, each item a
    key or, for zipped lists, a field of a dict item), which an artifact of the task takes as its whole key
    (`{{item}}`, `{{item.f}}`): those keys, and only keys flowpack uploaded, get the store's prefix."""
    items = task.get("withItems")
    if not isinstance(items, list):
        return
    fields: set[str | None] = set()  # None: the item itself
    for art in (task.get("arguments") or {}).get("artifacts") or []:
        s3 = art.get("s3")
        found = _ITEM_KEY.fullmatch(s3["key"]) if isinstance(s3, dict) and set(s3) == {"key"} else None
        if found is not None:
            fields.add(found.group(1))
    for i, item in enumerate(items):
        if None in fields and _uploaded(item):
            items[i] = prefix + item
        elif isinstance(item, dict):
            item.update({f: prefix + item[f] for f in fields if f is not None and _uploaded(item.get(f))})


def _uploaded(key: object) -> bool:
    return isinstance(key, str) and key.startswith(UPLOAD_PREFIX + "/")


def _fill_locations(spec: dict, store) -> None:
    for art in (spec.get("arguments") or {}).get("artifacts") or []:
        _fill(art, store)
    for tpl in spec.get("templates") or []:
        for art in (tpl.get("outputs") or {}).get("artifacts") or []:
            if "path" in art and "from" not in art:
                suffix = "" if "none" in (art.get("archive") or {}) else ".tgz"
                art["s3"] = _to_argo(store, f"{OUTPUT_PREFIX}/{KEY_FORMAT}/{art['name']}{suffix}")
        for task in (tpl.get("dag") or {}).get("tasks") or []:
            for art in (task.get("arguments") or {}).get("artifacts") or []:
                _fill(art, store)


def _fill(art: dict, store) -> None:
    s3 = art.get("s3")
    if isinstance(s3, dict) and set(s3) == {"key"}:
        art["s3"] = _to_argo(store, s3["key"])


def _to_argo(store, key: str) -> dict:
    loc = store.to_argo(key)
    loc = dict(loc["s3"] if isinstance(loc.get("s3"), dict) else loc)  # {"s3": {...}} or the location itself
    for bad in ("accessKey", "secretKey", "access_key", "secret_key", "sessionToken"):
        if bad in loc:
            raise ArgoConfigError(f"store.to_argo returned a plain credential field {bad!r}; Argo takes only "
                                  f"Kubernetes secret references (accessKeySecret/secretKeySecret)")
    return loc


CRON_NAME_MAX = 52  # Argo appends "-<unix time>" to a CronWorkflow's name for each workflow it starts
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?-]+$")
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_schedule(schedule: str) -> None:
    """Argo parses schedules with robfig/cron's ParseStandard: five fields (minute hour day month weekday), a
    descriptor such as @hourly, or `@every <duration>`; an optional `CRON_TZ=`/`TZ=` prefix. Six fields are refused."""
    text = schedule.strip() if isinstance(schedule, str) else ""
    if text.startswith(("CRON_TZ=", "TZ=")):
        text = text.partition(" ")[2].strip()
    fields = text.split()
    ok = (len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)) or text in _CRON_DESCRIPTORS or (
        len(fields) == 2 and fields[0] == "@every")
    if not ok:
        extra = " Six fields (with seconds) are refused by Argo." if len(fields) == 6 else ""
        raise ArgoConfigError(f"schedule={schedule!r}: expected a cron expression such as '0 * * * *' "
                              f"(minute hour day month weekday), a descriptor such as '@hourly', or a list of them."
                              + extra)


def as_kind(manifest: dict, kind: str, *, name: str | None = None, schedule: str | list[str] | None = None,
            timezone: str | None = None, concurrency_policy: str | None = None,
            server_version: str | None = None) -> dict:
    """`server_version` (the Argo Server's, e.g. "v3.5.8") picks a CronWorkflow's form: v3.6 and later read the
    list `schedules` (v4 requires it); v3.5 reads one `schedule`."""
    """The Workflow manifest as a Workflow (unchanged), a WorkflowTemplate, or a CronWorkflow."""
    if kind == "Workflow":
        return manifest
    meta = manifest.get("metadata") or {}
    obj_name = name or meta.get("name") or (meta.get("generateName") or "").rstrip("-")
    if not obj_name:
        raise ArgoConfigError(f"a {kind} needs a name: pass name=...")

    if not VALID.match(obj_name):
        raise ArgoConfigError(f"{kind} name {obj_name!r} is not a valid Kubernetes name (lowercase letters, digits, "
                              f"'-', at most 63 characters)")
    metadata = {"name": obj_name}
    for k in ("labels", "annotations"):
        if meta.get(k):
            metadata[k] = dict(meta[k])
    if kind == "WorkflowTemplate":
        return {"apiVersion": manifest.get("apiVersion", "argoproj.io/v1alpha1"), "kind": "WorkflowTemplate",
                "metadata": metadata, "spec": manifest["spec"]}
    if kind == "CronWorkflow":
        schedules = [schedule] if isinstance(schedule, str) else list(schedule or [])
        if not schedules:
            raise ArgoConfigError(f"schedule={schedule!r}: give a cron expression such as '0 * * * *'")
        for one in schedules:
            check_schedule(one)
        if len(obj_name) > CRON_NAME_MAX:
            raise ArgoConfigError(f"CronWorkflow name {obj_name!r} has {len(obj_name)} characters; Argo allows at "
                                  f"most {CRON_NAME_MAX} (it appends a timestamp to each workflow's name): pass a "
                                  f"shorter name=...")
        if (server_version or "").lstrip("v").startswith("3.5."):
            if len(schedules) > 1:
                raise ArgoConfigError(f"the Argo Server is {server_version}, whose CronWorkflows take one schedule; "
                                      f"got {len(schedules)}. Register one CronWorkflow per schedule.")
            spec: dict = {"schedule": schedules[0], "workflowSpec": manifest["spec"]}
        else:
            spec = {"schedules": schedules, "workflowSpec": manifest["spec"]}
        wf_meta = {k: metadata[k] for k in ("labels", "annotations") if k in metadata}
        if wf_meta:
            spec["workflowMetadata"] = wf_meta
        if timezone:
            spec["timezone"] = timezone
        if concurrency_policy:
            spec["concurrencyPolicy"] = concurrency_policy
        return {"apiVersion": manifest.get("apiVersion", "argoproj.io/v1alpha1"), "kind": "CronWorkflow",
                "metadata": metadata, "spec": spec}
    raise ArgoConfigError(f"kind={kind!r}: expected Workflow, WorkflowTemplate or CronWorkflow")


def decorate(manifest: dict, *, labels: dict | None = None, service_account: str | None = None,
             generate_name: str | None = None) -> dict:
    """Add user labels, the pods' service account, and a generateName override."""
    meta = manifest.setdefault("metadata", {})
    if labels:
        meta.setdefault("labels", {}).update({str(k): str(v) for k, v in labels.items()})
    if generate_name:
        meta.pop("name", None)
        meta["generateName"] = generate_name if generate_name.endswith("-") else generate_name + "-"
    if service_account:
        manifest["spec"]["serviceAccountName"] = service_account
    return manifest


def assert_no_secret(obj, secrets: list[str], what: str) -> None:
    """Raise if any of the given secret strings appears anywhere in obj (a manifest or record) as JSON text."""
    text = json.dumps(obj, default=str)
    for s in secrets:
        if s and len(s) >= 4 and s in text:
            raise ArgoConfigError(f"{what} would contain a credential in plain text; refusing to send it. "
                                  f"Credentials reach Argo only as Kubernetes secret references.")
