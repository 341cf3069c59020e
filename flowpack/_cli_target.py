"""What the command line's arguments name: `FILE.py:NAME` targets, `-p KEY=VALUE` workflow parameters, and
`--params-from RUN_ID`, the parameters of an earlier run.

A target that doesn't exist, or is an op where a workflow is wanted (or the reverse), is a UsageError naming what the
file does define, with the closest name when it looks like a typo. Parameters are checked against the workflow's
annotations before anything is built or run.

A run's record (run.json `parameters`) keeps each workflow parameter as the workflow carried it: text Argo can't
carry as it is, base64-encoded behind flowpack's marker; a list's items encoded as a loop hands them on; a value over
fp.BIG_VALUE as the marker `fp-big:<bytes>:<sha256>`, its text kept in the run's store under its content key.
`--params-from` reads each back with its parameter's annotation (a big value from the store the run recorded, checked
against the marker's size and sha256 before it is used), so the new run is built from the same values: it renders
the same manifest, and a resumed run reuses what succeeded. A file or folder parameter (Path) is no parameter but an
input artifact: the run's manifest.json gives its upload key (spec.arguments.artifacts, `flowpack/inputs/<digest>`),
and it is read back from the store into a temporary folder, checked against that digest; a list[Path] parameter's
files and folders likewise, by the keys the manifest's flowpack.io/given-files annotation lists (_graph writes it).
The viewer's resume hands a run's parameters on so (a value over 128 KiB can't be one command-line argument).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import sys
from collections.abc import Collection
from pathlib import Path
from types import ModuleType

from ._bigvalue import Marked, read_marker
from ._errors import StoreError, UsageError
from ._given_files import given_files_of
from ._op import Step
from ._records import RunRecord
from ._store import ArtifactRef, Store, fetch_upload, recorded_store
from ._types import PARAM, PARAM_JSON, PATH, PATHS, decode
from ._values import parse_text
from ._workflow import Workflow

WORKFLOW = "workflow"
OP = "op"


def load_module(file: str) -> ModuleType:
    """Import FILE.py as a user's script is imported (its folder goes on sys.path, as with `python FILE`)."""
    path = Path(file).resolve()
    if not path.is_file():
        raise UsageError(f"no such file {file!r}")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{file} is not a Python file (expected FILE.py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def split_target(target: str) -> tuple[str, str]:
    file, sep, name = target.rpartition(":")
    if not sep or not file or not name:
        raise UsageError(f"expected FILE.py:NAME, got {target!r}")
    return file, name


def kind_of(obj: object) -> str | None:
    """WORKFLOW, OP or None for anything else."""
    if isinstance(obj, Workflow):
        return WORKFLOW
    if isinstance(obj, Step):
        return OP
    return None


def defined(module: ModuleType, kind: str) -> list[str]:
    """The names under which the module holds workflows (or ops), in definition order."""
    return [n for n, v in vars(module).items() if not n.startswith("_") and kind_of(v) == kind]


def load_target(target: str, want: str | None = None):
    """`FILE.py:NAME` -> the object NAME of FILE.py; with `want`, it must be a workflow (or an op)."""
    file, name = split_target(target)
    module = load_module(file)
    names = defined(module, want) if want else [n for n in vars(module) if not n.startswith("_")]
    if not hasattr(module, name):
        close = difflib.get_close_matches(name, names, n=1) or difflib.get_close_matches(name, list(vars(module)), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = f" {_plural(want).capitalize()} in it: {', '.join(names)}." if want and names else ""
        raise UsageError(f"{file} defines no {name!r}.{hint}{listing}")
    obj = getattr(module, name)
    kind = kind_of(obj)
    if want and kind != want:
        what = (kind and {WORKFLOW: "a workflow", OP: "an op"}.get(kind)) or f"a {type(obj).__name__}"
        wanted = {WORKFLOW: "a workflow (@fp.workflow)", OP: "an op (@fp.op or fp.shell)"}[want]
        listing = (f"{_plural(want).capitalize()} in {file}: {', '.join(names)}." if names
                   else f"{file} defines no {want}.")
        use = f" `flowpack script {target}` prints the op's step script." if kind == OP else ""
        raise UsageError(f"{target} is {what}, not {wanted}. {listing}{use}")
    return obj


def _plural(kind: str | None) -> str:
    return {WORKFLOW: "workflows", OP: "ops"}.get(kind or "", "names")


def parse_params(pairs: list[str] | None, wf) -> dict:
    """-p key=value pairs as the workflow's annotations ask: JSON for JSON types, the text itself for text, a path
    for a file. Unknown or repeated keys and values that don't fit their annotation are UsageErrors."""
    inputs = wf.interface.inputs
    params: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"-p expects KEY=VALUE, got {pair!r}")
        if key in params:
            raise UsageError(f"-p {key} is given twice; give each parameter once")
        inp = inputs.get(key)
        if inp is None:
            close = difflib.get_close_matches(key, list(inputs), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"workflow {wf.name!r} has no parameter {key!r}.{hint} "
                             f"Its parameters: {', '.join(inputs) or 'none'}.")
        if inp.kind.how == "path":
            params[key] = value
            continue
        try:
            params[key] = parse_text(value, inp.annotation, key)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return params


def recorded_params(run_dir: str | Path, run_id: str, wf, *, given: Collection[str] = (), into: Path) -> dict:
    """The values of run `run_id`'s parameters (in `run_dir`), typed by workflow `wf`'s annotations, but for those
    `given` (with -p). A file or folder parameter is read back from the run's store into the folder `into`."""
    path = Path(run_dir) / run_id / "run.json"
    try:
        record = RunRecord.read(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--params-from {run_id}: no run record to read at {path} ({exc})") from None
    inputs = wf.interface.inputs
    params: dict = {}
    for name, text in record.parameters.items():
        inp = inputs.get(name)
        if inp is None:
            raise UsageError(f"--params-from {run_id}: that run has a parameter {name!r}, which workflow "
                             f"{wf.name!r} does not have (its parameters: {', '.join(inputs) or 'none'}); give the "
                             f"parameters with -p instead")
        if not isinstance(text, str) or name in given:
            continue
        marked = read_marker(text)
        if marked is not None:
            text = _stored_text(record, marked, name, run_id)
        params[name] = decode(text, inp.kind if inp.kind.how == PARAM else PARAM_JSON)  # unannotated: JSON
    files = [name for name, inp in inputs.items() if inp.kind.how in (PATH, PATHS) and name not in given]
    if files:
        params.update(_uploaded_files(Path(run_dir) / run_id, record, wf, files, run_id, into))
    return params


def _uploaded_files(folder: Path, record: RunRecord, wf, names: list[str], run_id: str, into: Path) -> dict:
    """The file (or folder) each Path parameter in `names` named, read back from the run's store by the content key
    its manifest gives it (spec.arguments.artifacts) and checked against that digest; a list[Path] parameter's files
    and folders by the keys its GIVEN_FILES annotation lists, in their order."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        arguments = manifest["spec"].get("arguments") or {}
        lists = given_files_of(manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"--params-from {run_id}: its manifest.json can't be read ({exc}); give "
                         f"{', '.join(names)} with -p NAME=PATH") from None
    uploaded = {a.get("name"): a for a in arguments.get("artifacts") or [] if isinstance(a, dict)}
    store: Store | None = None  # opened on the first read
    params: dict = {}
    for name in names:
        many = wf.interface.inputs[name].kind.how == PATHS
        if many:
            fix = f"give it with -p {name}='[\"FILE\", ...]'"
            if name not in lists:
                raise UsageError(f"--params-from {run_id}: the run records no files for parameter {name!r}, a list "
                                 f"of local files (list[Path]): it was started before flowpack recorded them, or the "
                                 f"list was too long to record: {fix}")
            wanted = [(f.key, into / name / str(i), f.folder) for i, f in enumerate(lists[name])]
        else:
            fix = f"give it with -p {name}=PATH"
            key = ((uploaded.get(name) or {}).get("s3") or {}).get("key")
            if not isinstance(key, str):
                raise UsageError(f"--params-from {run_id}: the run records no file for parameter {name!r}: {fix}")
            wanted = [(key, into / name, "archive" not in uploaded[name])]
        got = []
        for key, dest, is_folder in wanted:
            try:
                store = recorded_store(record.store) if store is None else store
                got.append(fetch_upload(store, key, dest, folder=is_folder))
            except (StoreError, OSError) as exc:
                raise UsageError(f"--params-from {run_id}: parameter {name!r} is the file the run uploaded to its "
                                 f"store under {key!r}, which can't be read back ({exc}): {fix}") from None
        params[name] = got if many else got[0]
    return params


def _stored_text(record: RunRecord, marked: Marked, name: str, run_id: str) -> str:
    """The text of a big parameter, from the run's store, after checking it against its marker."""
    where = (f"--params-from {run_id}: parameter {name!r} is a big value ({marked.size} bytes) kept in the run's "
             f"store under {marked.key!r}")
    fix = (f"give it again from Python, e.g. {record.workflow or 'pipeline'}.run(resume={run_id!r}, {name}=...) "
           f"(a value over 128 KiB can't be one command-line argument)")
    try:
        data = recorded_store(record.store).load_bytes(ArtifactRef(marked.key, marked.sha256, marked.size, "file"))
    except (StoreError, OSError) as exc:
        raise UsageError(f"{where}, which can't be read ({exc}): {fix}") from None
    return data.decode("utf-8", errors="surrogatepass")
