"""The Docker engine: the local engine's scheduling, parameters and artifact handling, each step in a container.

Every leaf step runs in a container of its template's image, through the docker SDK. The step's own root folder is
mounted at the top folders of its declared paths (host `root/tmp` -> container `/tmp`), so the unchanged step script
uses the real paths (FLOWPACK_ROOT is empty in the container). Only the template's environment reaches the
container. Resource requests become container limits; containers are removed when they end, fail, time out or
the run is stopped. A step's logs keep the time the daemon received each line (in stamps beside them, as the local
engine's).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from .._errors import ManifestError
from .._options import quantity_value
from .._records import RunRecord
from .._store._archive import outside_link
from ._stamps import split_time, write_stamps
from ._step import Launch, StepRunner
from .local import LocalEngine

SCRIPT_DIR = "/flowpack/script"  # the step script, mounted read-only
WORK_DIR = "/flowpack/work"  # the step's working directory
LABEL = "org.flowpack.run"
# Folders an image needs for itself: a declared path under one is mounted at its own folder, never the top folder.
_SYSTEM_TOPS = {"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/root", "/run",
                "/sbin", "/sys", "/usr", "/var", "/flowpack"}
_GPU_HINT = ("the docker daemon can't give containers GPUs (no GPU device driver): install the NVIDIA Container "
             "Toolkit on this machine, or drop gpu= from the op to run it here")


def _docker_client() -> Any:
    import docker  # lazy: the docker SDK loads only when Docker is used

    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:
        raise ConnectionError(f"DockerEngine: can't reach the docker daemon ({exc}); start dockerd "
                              f"(as root: bash ci/services.sh) or set DOCKER_HOST") from exc


def mounts_for(launch: Launch) -> dict[str, str]:
    """Host folder -> container folder: the step root's top folders of the declared paths, e.g. root/tmp -> /tmp."""
    targets = set()
    for path in launch.declared:
        parts = os.path.normpath(path).strip("/").split("/")
        if len(parts) == 1:
            raise ManifestError(f"template {launch.template.get('name')!r}: declared path {path!r} is directly under "
                                f"'/', which can't be mounted; put it in a folder, e.g. /tmp{path}")
        top = "/" + parts[0]
        if top in _SYSTEM_TOPS:  # never a folder over the image's own: an input is mounted at its own path, an
            if os.path.lexists(str(launch.root) + os.path.normpath(path)):  # output is copied out when it ends
                targets.add(os.path.normpath(path))
        else:
            targets.add(top)
    # a folder under another mounted folder is already mounted with it
    kept = [t for t in sorted(targets) if not any(t.startswith(o + "/") for o in targets if o != t)]
    return {str(launch.root) + t: t for t in kept}


def copy_system_outputs(container, launch: Launch) -> None:
    """Outputs declared under a system folder (/etc, /usr/bin...) aren't mounted (that would hide the image's own
    folder): they are copied out of the ended container into the step root, refusing links that leave it."""
    import docker.errors  # lazy: the docker SDK loads only when Docker is used

    outputs = launch.template.get("outputs") or {}
    paths = [a.get("path") for a in outputs.get("artifacts") or []]
    paths += [(p.get("valueFrom") or {}).get("path") for p in outputs.get("parameters") or []]
    for path in [os.path.normpath(p) for p in paths if p and p.startswith("/")]:
        if "/" + path.strip("/").split("/")[0] not in _SYSTEM_TOPS or os.path.lexists(str(launch.root) + path):
            continue
        try:
            stream, _ = container.get_archive(path)
        except docker.errors.NotFound:
            continue  # not written: collecting the outputs says so
        dest = Path(str(launch.root) + os.path.dirname(path))
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile() as buf:
            for chunk in stream:
                buf.write(chunk)
            buf.seek(0)
            with tarfile.open(fileobj=buf) as tar:
                try:
                    tar.extractall(dest, filter="data")
                except tarfile.FilterError as exc:
                    raise ManifestError(f"template {launch.template.get('name')!r}: output {path} can't be read "
                                        f"safely: {exc}") from None


def outside_links(template: dict, root: Path) -> str | None:
    """Why reading the template's declared outputs under `root` could leave it, or None when it can't.

    No component of an output path may be a symbolic link (its target means a path in the container, which the
    host would read as its own), and a directory output may hold links only to its own files, by relative paths.
    """
    outputs = template.get("outputs") or {}
    paths = [(f"output parameter {p['name']!r}", (p.get("valueFrom") or {}).get("path"))
             for p in outputs.get("parameters") or []]
    paths += [(f"output artifact {a['name']!r}", a.get("path")) for a in outputs.get("artifacts") or []]
    for what, declared in paths:
        if not declared or not declared.startswith("/"):
            continue
        current = Path(root)
        for part in Path(os.path.normpath(declared)).parts[1:]:
            current = current / part
            if current.is_symlink():
                shown = "/" + str(current.relative_to(root))
                return (f"{what} ({declared}): {shown} is a symbolic link (to {os.readlink(current)!r}); the Docker "
                        f"engine reads outputs from the step's own folder and never follows a link out of it. "
                        f"Write the file itself there (copy it instead of linking).")
            if not current.exists():
                break
        else:
            if current.is_dir():
                link = outside_link(current)
                if link:
                    return f"{what} ({declared}): {link}"
    return None


def resource_limits(template: dict) -> dict:
    """Container create() options from the template's resources: cpu -> nano_cpus, memory -> mem_limit, gpu."""
    kind = "script" if "script" in template else "container"
    res = (template.get(kind) or {}).get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    out: dict = {}
    cpu = limits.get("cpu") or requests.get("cpu")
    if cpu:
        out["nano_cpus"] = max(1, int(quantity_value(str(cpu)) * 1e9))
    memory = limits.get("memory") or requests.get("memory")
    if memory:
        out["mem_limit"] = out["memswap_limit"] = int(quantity_value(str(memory)))  # no swap, as in a pod
    gpus = limits.get("nvidia.com/gpu") or requests.get("nvidia.com/gpu")
    if gpus and int(gpus) > 0:
        import docker.types  # lazy: the docker SDK loads only when Docker is used

        out["device_requests"] = [docker.types.DeviceRequest(count=int(gpus), capabilities=[["gpu"]])]
    return out


class DockerStepRunner(StepRunner):
    """Runs each leaf step in a container; everything else (inputs, outputs, records) is the local engine's."""

    views = False  # dockerd mounts the step's folders itself: inputs are copied in, never mounted views

    def __init__(self, run_dir: Path, run_id: str, store, python: str, client: Any, network: str | None = None):
        super().__init__(run_dir, run_id, store, python)
        self.client = client
        self.network = network
        self.containers: dict[str, Any] = {}  # container id -> container, while it exists
        self.lock = threading.Lock()
        self.pulls: dict[str, threading.Lock] = {}
        self.user = None if os.geteuid() == 0 else f"{os.geteuid()}:{os.getegid()}"  # files stay the engine's

    def _collect(self, tpl: dict, root: Path, node: str, res, step_dir: Path, kind: str) -> None:
        """Outputs are read on the host after the container ended: never through a link the step planted."""
        problem = outside_links(tpl, root)
        if problem:
            res.phase, res.message = "Error", f"template {tpl.get('name', '?')!r}: {problem}"
            return
        super()._collect(tpl, root, node, res, step_dir, kind)

    def launch(self, launch: Launch) -> tuple[int, bool, list[str]]:
        """Run the step in a container of its template's image to the end: (exit code, timed out, argv)."""
        import docker.errors  # lazy: the docker SDK loads only when Docker is used
        import requests.exceptions

        tpl = launch.template
        image = _image_of(tpl)
        if not image:
            raise ManifestError(f"template {tpl.get('name')!r}: no image to run it in")
        command = list(launch.command)
        volumes = {host: {"bind": inner, "mode": "rw"} for host, inner in mounts_for(launch).items()}
        volumes[str(launch.work)] = {"bind": WORK_DIR, "mode": "rw"}
        if launch.source is not None:
            script = self._script_file(tpl.get("name", "step"), launch.node, launch.source, launch.is_python)
            inner = f"{SCRIPT_DIR}/{script.name}"
            volumes[str(script)] = {"bind": inner, "mode": "ro"}
            command.append(inner)
        argv = command + list(launch.args)
        env = dict(launch.env)
        env["FLOWPACK_ROOT"] = ""  # the script uses the real paths: the step root is mounted at them
        options = dict(
            image=image, command=argv, environment=env, volumes=volumes, working_dir=WORK_DIR, detach=True,
            labels={LABEL: self.run_id, "org.flowpack.node": launch.node}, stdin_open=False, tty=False,
            log_config={"type": "json-file"}, **resource_limits(tpl),
        )
        if self.network:
            options["network_mode"] = self.network
        if self.user:
            options["user"] = self.user
        container = self._create(options, tpl)
        with self.lock:
            self.containers[container.id] = container
        try:
            if self.stopping:
                return 137, False, argv
            try:
                container.start()
            except docker.errors.APIError as exc:
                raise self._start_error(exc, tpl) from exc
            timed_out = False
            try:
                code = container.wait(timeout=launch.timeout)["StatusCode"]
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                if launch.timeout is None:
                    raise
                timed_out = True
                self._kill(container)
                code = container.wait()["StatusCode"]
            self._save_logs(container, launch.step_dir)
            if code == 0:
                copy_system_outputs(container, launch)
            return code, timed_out, argv
        finally:
            self._remove(container)

    # -- helpers ---------------------------------------------------------------------------------
    def _create(self, options: dict, tpl: dict):
        import docker.errors  # lazy: the docker SDK loads only when Docker is used

        try:
            return self.client.containers.create(**options)
        except docker.errors.ImageNotFound:
            self._pull(options["image"], tpl)
            return self.client.containers.create(**options)
        except docker.errors.APIError as exc:
            raise self._start_error(exc, tpl) from exc

    def _pull(self, image: str, tpl: dict) -> None:
        """Pull a missing image once per run (concurrent steps wait for the same pull)."""
        import docker.errors  # lazy: the docker SDK loads only when Docker is used

        with self.lock:
            lock = self.pulls.setdefault(image, threading.Lock())
        with lock:
            try:
                self.client.images.get(image)
                return
            except docker.errors.ImageNotFound:
                pass
            repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
            try:
                self.client.images.pull(repository, tag=tag or "latest")
            except docker.errors.APIError as exc:
                raise ManifestError(
                    f"template {tpl.get('name')!r}: image {image!r} is not on this machine and pulling it failed "
                    f"({exc.explanation or exc}). Build it (flowpack build FILE.py) or push it to a registry this "
                    f"daemon can reach.") from None

    def _start_error(self, exc, tpl: dict) -> Exception:
        text = str(getattr(exc, "explanation", "") or exc)
        if "device driver" in text and "gpu" in text:
            return ManifestError(f"template {tpl.get('name')!r} asks for GPUs but {_GPU_HINT} ({text})")
        return OSError(f"docker could not start template {tpl.get('name')!r}: {text}")

    def _save_logs(self, container, step_dir: Path) -> None:
        """The container's stdout and stderr into the step's files, each as the step wrote it, and the time the
        daemon received each line into the stamps beside them: asked for timestamps, Docker's log API sends every
        message (a line, or a piece of one that is longer than 16 KiB or never ended) in a frame of its own, with
        its RFC 3339 arrival time and a space before it."""
        for name, flags in (("stdout", {"stdout": True, "stderr": False}),
                            ("stderr", {"stdout": False, "stderr": True})):
            stamps: list[tuple[int, float]] = []
            offset = 0
            with open(step_dir / name, "wb") as f:
                for message in container.logs(stream=True, follow=False, timestamps=True, **flags):
                    when, text = split_time(message)
                    f.write(text)
                    at = text.find(b"\n")
                    while when is not None and at >= 0:  # a line's end: the time the line was complete
                        stamps.append((offset + at + 1, when))
                        at = text.find(b"\n", at + 1)
                    offset += len(text)
            write_stamps(step_dir, name, stamps)

    def _kill(self, container) -> None:
        import docker.errors  # lazy: the docker SDK loads only when Docker is used

        try:
            container.kill()
        except docker.errors.APIError:  # already stopped or gone
            pass

    def _remove(self, container) -> None:
        import docker.errors  # lazy: the docker SDK loads only when Docker is used

        with self.lock:
            self.containers.pop(container.id, None)
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise

    def stop_all(self) -> None:
        """Kill every running container of this run (Ctrl-C); each worker then removes its own."""
        self.stopping = True
        with self.lock:
            running = list(self.containers.values())
        for container in running:
            self._kill(container)


def _image_of(template: dict) -> str:
    return (template.get("script") or template.get("container") or {}).get("image", "")


class DockerEngine(LocalEngine):
    """Run manifests with every step in a Docker container of its template's image.

    `build=True` makes sure each op's image has its packages first (cloudpickle for pickled values, imported
    third-party modules), building derived images once per content; `network` is the containers' network mode.
    """

    name = "docker"

    def __init__(self, run_dir: str | Path = ".flowpack/runs", store=None, workers: int | None = None,
                 python: str | None = None, progress: Callable[[dict], None] | None = None, *,
                 client: Any = None, network: str | None = None, build: bool = True,
                 build_progress: Callable[[str], None] | None = None):
        super().__init__(run_dir=run_dir, store=store, workers=workers, python=python, progress=progress)
        self._client = client
        self.network = network
        self.build = build
        self.build_progress = build_progress

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _docker_client()
        return self._client

    def prepare(self, built) -> dict:
        """The manifest of a built workflow with each op's image replaced by one that has its packages."""
        from .._images_build import apply_images, build_images  # lazy: image building loads only when images are built

        if not self.build:
            return built.manifest
        # an image flowpack built already (its label says so) is kept as it is: build_images' default
        mapping = build_images(built, client=self.client, progress=self.build_progress)
        return apply_images(built.manifest, mapping)

    def execute(self, manifest: dict, **options) -> RunRecord:
        """Run a manifest to the end in containers and return its run record (also written to run.json)."""
        if self.build:  # a bare manifest: each op's image gets what its facts annotation asks for
            manifest = self.prepare(_ManifestOnly(manifest))
        return super().execute(manifest, **options)

    def make_runner(self, run_dir: Path, run_id: str) -> DockerStepRunner:
        return DockerStepRunner(run_dir, run_id, self.store, self.python, self.client, self.network)


class _ManifestOnly:
    """A bare manifest where build_images expects a built workflow: images come from the facts it carries."""

    def __init__(self, manifest: dict):
        self.manifest = manifest


__all__ = ["DockerEngine", "DockerStepRunner", "mounts_for", "outside_links", "resource_limits"]
