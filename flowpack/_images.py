"""Step images named by their content: build (FROM a base, plus pinned pip packages and local wheels) and push.

An `ImageSpec` says what goes into an image; its `digest()` covers all of it, so the tag
`<registry>/<repository>:<first 16 hex of digest>` names the content and an unchanged spec never rebuilds.
Docker is reached through the docker SDK (imported lazily: `import flowpack` stays light).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import deque
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Callable, Iterable

from ._capture_project import module_distributions
from ._errors import ImageBuildError
from ._jinja import render, templates_dir

__all__ = ["ImageSpec", "pinned_packages", "build", "push", "render_dockerfile", "DEFAULT_REPOSITORY"]

DEFAULT_REPOSITORY = "flowpack/step"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_SCRATCH = "/tmp/flowpack-build"  # the build's own folder in the image, removed by the build's last layer
_CA_FILE = "ca-certificates.crt"  # the host's CA bundle: in the build context and in the scratch folder
_WHEELS = "wheels"  # the local projects' wheels: a folder of the build context and of the scratch folder
_TAIL_LINES = 25

Progress = Callable[[str], None]

# Docker image reference: [host[:port]/]path[/path...][:tag][@sha256:hex]; strict so FROM can't carry anything else.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE_RE = (
    rf"^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::[0-9]+)?/)?"
    rf"{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
)
_REPOSITORY_RE = rf"^{_COMPONENT}(?:/{_COMPONENT})*$"
_REGISTRY_RE = r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?$"
# Fallback when `packaging` is missing: name, optional extras, optional version clauses; nothing else.
_REQUIREMENT_RE = (
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?"
    r"(?:\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+(?:\s*,\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?$"
)
_ANSI_RE = r"\x1b\[[0-9;]*[A-Za-z]"
_BUILDER_NOISE_RE = r"^\s*(?:---> |Removing intermediate container )"
_WHEEL_NAME_RE = r"^[A-Za-z0-9_.+!-]+\.whl$"
_SKIP_DIRS = {".git", ".hg", ".svn", "build", "dist", "__pycache__", ".venv", "venv", ".tox", ".nox",
              ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules"}


# ----------------------------------------------------------------------------------------------------- validation
def _check_reference(ref: str, where: str) -> str:
    """Return `ref` if it is a plain image reference, else raise: it is written into FROM unquoted."""
    if not isinstance(ref, str) or not re.fullmatch(_REFERENCE_RE, ref):
        raise ImageBuildError(f"{where}={ref!r}): not a valid image reference such as 'python:3.11-slim'")
    return ref


def _check_requirement(req: str) -> str:
    """Return `req` if it is one pip requirement (PEP 508), else raise naming it: keeps options and newlines out."""
    if not isinstance(req, str) or not req.strip() or req != req.strip() or any(c in req for c in "\r\n\0\\"):
        raise ImageBuildError(f"ImageSpec(packages=...): {req!r} is not a single pip requirement such as 'six==1.17.0'")
    try:
        from packaging.requirements import InvalidRequirement, Requirement  # lazy: packaging loads only for image specs
    except ImportError:  # pragma: no cover - packaging is almost always there with pip
        if not re.fullmatch(_REQUIREMENT_RE, req):
            raise ImageBuildError(
                f"ImageSpec(packages=...): {req!r} is not a pip requirement such as 'six==1.17.0'") from None
        return req
    try:
        Requirement(req)
    except InvalidRequirement as exc:
        raise ImageBuildError(
            f"ImageSpec(packages=...): {req!r} is not a pip requirement such as 'six==1.17.0' ({exc})") from None
    return req


# ----------------------------------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class ImageSpec:
    """What goes into a step image: a base image, pinned pip requirements and local projects shipped as wheels."""

    base: str
    packages: tuple[str, ...] = ()
    local_packages: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_reference(self.base, "ImageSpec(base")
        for name in ("packages", "local_packages"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ImageBuildError(f"ImageSpec({name}={value!r}): give a tuple of strings, not one string")
            object.__setattr__(self, name, tuple(value))
        for req in self.packages:
            _check_requirement(req)

    def digest(self, *, client: Any = None) -> str:
        """sha256 of everything that goes into the image: base (ID if local), packages, wheel contents, template."""
        h = hashlib.sha256()
        h.update(b"flowpack-image-v1\0")
        h.update(f"base\0{_base_identity(self.base, client)}\0".encode())
        for req in sorted(self.packages):
            h.update(f"package\0{req}\0".encode())
        for wheel in sorted(_local_wheels(self.local_packages), key=lambda p: p.name):
            h.update(f"wheel\0{wheel.name}\0{_wheel_content_digest(wheel)}\0".encode())
        h.update(b"template\0")
        h.update(_template_text().encode())
        return h.hexdigest()

    def tag(self, repository: str = DEFAULT_REPOSITORY, registry: str | None = None, *, client: Any = None) -> str:
        """Content tag, e.g. '127.0.0.1:5000/flowpack/step:<first 16 hex of digest>'."""
        _check_repository(repository, registry)
        return _tag_for(self.digest(client=client), repository, registry)


def _check_repository(repository: str, registry: str | None) -> None:
    """Raise unless repository/registry make a valid image name (they end up in the tag and in push)."""
    if not isinstance(repository, str) or not re.fullmatch(_REPOSITORY_RE, repository):
        raise ImageBuildError(
            f"ImageSpec.tag(repository={repository!r}): use lowercase path parts like 'flowpack/step'")
    if registry is not None and (not isinstance(registry, str) or not re.fullmatch(_REGISTRY_RE, registry)):
        raise ImageBuildError(f"ImageSpec.tag(registry={registry!r}): give host[:port], e.g. '127.0.0.1:5000'")


def _tag_for(digest: str, repository: str, registry: str | None) -> str:
    prefix = f"{registry}/" if registry else ""
    return f"{prefix}{repository}:{digest[:16]}"


def _base_identity(base: str, client: Any) -> str:
    """The base image's local ID when docker has it (so a rebuilt base changes the tag), else its name."""
    own = client is None
    try:
        client = client or _client()
        return str(client.images.get(base).id)
    except Exception:  # not present locally or no daemon: the name is all we know
        return base
    finally:
        if own and client is not None:
            client.close()


# ----------------------------------------------------------------------------------------------------- pinning
def pinned_packages(modules: Iterable[str]) -> tuple[str, ...]:
    """Pin the installed distributions behind imported modules ('yaml' -> 'PyYAML==6.0.3'); skip stdlib and flowpack."""
    mapping = module_distributions()
    pins: set[str] = set()
    for module in modules:
        top = module.split(".", 1)[0]
        if not top or top in sys.stdlib_module_names or top == "flowpack":
            continue
        for dist_name in mapping.get(top, ()):
            try:
                dist = distribution(dist_name)
            except PackageNotFoundError:
                continue
            name = dist.metadata["Name"] or dist_name
            if name.lower().replace("_", "-") == "flowpack":
                continue
            pins.add(f"{name}=={dist.version}")
    return tuple(sorted(pins, key=str.lower))


# ----------------------------------------------------------------------------------------------------- templates
_DOCKERFILE = "Dockerfile.j2"


def _template_text() -> str:
    return (templates_dir() / _DOCKERFILE).read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Copied:
    """What the build copies from its context (`source`) to the image's scratch folder (`target`), and the files."""

    source: str
    target: str
    files: tuple[str, ...] = ()


def render_dockerfile(spec: ImageSpec, wheel_names: Iterable[str] = (), *, ca_bundle: bool = True,
                      digest: str = "") -> str:
    """Render templates/Dockerfile.j2 for `spec`; every value is validated and inserted as a JSON string."""
    wheel_dir = f"{_SCRATCH}/{_WHEELS}"
    files = []
    for name in wheel_names:
        if not re.fullmatch(_WHEEL_NAME_RE, name):
            raise ImageBuildError(f"render_dockerfile: unexpected wheel file name {name!r}")
        files.append(f"{wheel_dir}/{name}")
    if digest and not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ImageBuildError(f"render_dockerfile(digest={digest!r}): expected 64 hex digits")
    return render(
        _DOCKERFILE,
        base=_check_reference(spec.base, "render_dockerfile(spec.base"),
        packages=[_check_requirement(p) for p in sorted(spec.packages)],
        wheels=_Copied(_WHEELS, wheel_dir, tuple(files)) if files else None,
        ca_bundle=_Copied(_CA_FILE, f"{_SCRATCH}/{_CA_FILE}") if ca_bundle else None,
        scratch=_SCRATCH,
        digest=digest,
    )


# ----------------------------------------------------------------------------------------------------- local wheels
def _cache_dir() -> Path:
    root = os.environ.get("FLOWPACK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flowpack")
    return Path(root) / "wheels"


def _source_key(project: Path) -> str:
    """Cheap key of a project tree (paths, sizes, mtimes): decides whether a cached wheel is still current."""
    h = hashlib.sha256(str(project).encode())
    for dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for fname in sorted(filenames):
            if fname.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(dirpath, fname)
            try:
                st = os.stat(full)
            except OSError:
                continue
            h.update(f"{os.path.relpath(full, project)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def _local_wheels(paths: Iterable[str]) -> list[Path]:
    """Build (or reuse) a wheel for each local project with `pip wheel --no-deps`; raise naming a bad path."""
    wheels = []
    for raw in paths:
        project = Path(raw).expanduser().resolve()
        if not ((project / "pyproject.toml").is_file() or (project / "setup.py").is_file()):
            raise ImageBuildError(
                f"ImageSpec(local_packages=...): {raw!r} is not a project directory with pyproject.toml or setup.py")
        slot = _cache_dir() / _source_key(project)
        found = sorted(slot.glob("*.whl")) if slot.is_dir() else []
        if len(found) != 1:
            found = [_build_wheel(project, slot)]
        wheels.append(found[0])
    return wheels


def _build_wheel(project: Path, slot: Path) -> Path:
    """Run `pip wheel --no-deps` for one project into the cache slot (SOURCE_DATE_EPOCH keeps bytes reproducible)."""
    slot.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=slot.parent))
    try:
        env = dict(os.environ, SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "--no-input",
               "--wheel-dir", str(tmp), str(project)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        built = sorted(tmp.glob("*.whl"))
        if proc.returncode != 0 or len(built) != 1:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-_TAIL_LINES:])
            raise ImageBuildError(f"building a wheel of local package {str(project)!r} failed "
                                  f"(pip wheel --no-deps exited {proc.returncode}):\n{tail}")
        if slot.exists():
            shutil.rmtree(slot, ignore_errors=True)
        try:
            tmp.rename(slot)
        except OSError:  # another process filled the same slot meanwhile: its wheel has the same sources
            done = sorted(slot.glob("*.whl"))
            if len(done) != 1:
                raise
            return done[0]
        return slot / built[0].name
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _wheel_content_digest(wheel: Path) -> str:
    """sha256 over the wheel's member names and contents (not zip timestamps): equal contents, equal digest."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            h.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------- docker
def _client() -> Any:
    import docker  # lazy: the docker SDK loads only when Docker is used

    try:
        return docker.from_env()
    except Exception as exc:
        raise ImageBuildError(
            f"can't reach the docker daemon ({exc}): start it (as root: bash ci/services.sh)") from exc


def is_managed(client: Any, image: str) -> bool:
    """Whether flowpack built `image` (its label says so): its packages are in already, nothing is added to it."""
    import docker.errors  # lazy: the docker SDK loads only when Docker is used

    try:
        return (client.images.get(image).labels or {}).get("org.flowpack.managed") == "true"
    except docker.errors.ImageNotFound:
        return False


def _image_exists(client: Any, ref: str) -> bool:
    import docker.errors  # lazy: the docker SDK loads only when Docker is used

    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def build(spec: ImageSpec, *, client: Any = None, registry: str | None = None,
          progress: Progress | None = None, repository: str = DEFAULT_REPOSITORY) -> str:
    """Build the spec's image unless its content tag already exists locally; return the tag."""
    client = client or _client()
    say = progress or (lambda _line: None)
    _check_repository(repository, registry)
    wheels = _local_wheels(spec.local_packages)
    digest = spec.digest(client=client)
    tag = _tag_for(digest, repository, registry)
    if _image_exists(client, tag):
        say(f"image {tag} exists: build skipped")
        return tag
    same = client.images.list(filters={"label": f"org.flowpack.digest={digest}"})
    if same:  # same content built under another name (e.g. without the registry prefix): just add this tag
        repo, _, image_tag = tag.rpartition(":")
        same[0].tag(repo, image_tag)
        say(f"image {same[0].short_id} has the same content: tagged {tag}, build skipped")
        return tag
    if not _image_exists(client, spec.base):
        raise ImageBuildError(f"build: base image {spec.base!r} is not present locally and flowpack never pulls it; "
                              f"pull or build it first (for python:3.11-slim here: bash ci/services.sh)")
    with tempfile.TemporaryDirectory(prefix="flowpack-build-") as ctx_dir:
        ctx = Path(ctx_dir)
        ca_bundle = os.path.isfile(HOST_CA_BUNDLE)
        if ca_bundle:  # pip in the build trusts what the host trusts (TLS-intercepting proxies included)
            shutil.copyfile(HOST_CA_BUNDLE, ctx / _CA_FILE)
        if wheels:
            (ctx / _WHEELS).mkdir()
            for wheel in wheels:
                shutil.copyfile(wheel, ctx / _WHEELS / wheel.name)
        (ctx / "Dockerfile").write_text(
            render_dockerfile(spec, [w.name for w in wheels], ca_bundle=ca_bundle, digest=digest), encoding="utf-8")
        say(f"building {tag} FROM {spec.base}")
        _run_build(client, str(ctx), tag, say)
    if not _image_exists(client, tag):
        raise ImageBuildError(f"build of {tag} reported success but the image is missing")
    return tag


def _run_build(client: Any, context: str, tag: str, say: Progress) -> None:
    """Stream the legacy builder's log; on an error event raise with the failing step and its last output lines."""
    step = "(before the first step)"
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        events = client.api.build(path=context, tag=tag, pull=False, rm=True, forcerm=True, decode=True)
        for event in events:
            if "error" in event or "errorDetail" in event:
                detail = event.get("error") or (event.get("errorDetail") or {}).get("message") or str(event)
                lines = "\n".join(f"    {line}" for line in tail)
                error = ImageBuildError(
                    f"build of {tag} failed at {step}\n  error: {detail.strip()}\n  last output lines:\n{lines}")
                error.step, error.output_tail = step, tuple(tail)  # for callers that show them their own way
                raise error
            text = event.get("stream")
            if not text:
                continue
            for line in re.sub(_ANSI_RE, "", text).splitlines():
                if not line.strip():
                    continue
                if re.match(r"^Step \d+/\d+ : ", line):
                    step = line.strip()
                    tail.clear()
                elif not re.match(_BUILDER_NOISE_RE, line):
                    tail.append(line.rstrip())
                say(line.rstrip())
    except ImageBuildError:
        raise
    except Exception as exc:  # APIError, connection errors, bad context
        raise ImageBuildError(f"build of {tag} failed at {step}: {exc}") from exc


def push(tag: str, *, client: Any = None, progress: Progress | None = None) -> None:
    """Push `tag` to its registry; raise ImageBuildError on any error event (the SDK itself does not raise)."""
    _check_reference(tag, "push(tag")
    client = client or _client()
    say = progress or (lambda _line: None)
    repository, _, image_tag = tag.rpartition(":")
    if not repository or "/" in image_tag:
        raise ImageBuildError(
            f"push(tag={tag!r}): give registry/repository:tag, e.g. '127.0.0.1:5000/flowpack/step:abc'")
    try:
        for event in client.api.push(repository, tag=image_tag, stream=True, decode=True):
            if "error" in event or "errorDetail" in event:
                detail = event.get("error") or (event.get("errorDetail") or {}).get("message") or json.dumps(event)
                raise ImageBuildError(f"push of {tag} failed: {detail}")
            status = event.get("status")
            if status and event.get("progressDetail") in (None, {}):
                say(f"{event.get('id', '')} {status}".strip())
    except ImageBuildError:
        raise
    except Exception as exc:
        raise ImageBuildError(f"push of {tag} failed: {exc}") from exc
