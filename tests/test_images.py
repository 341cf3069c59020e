"""flowpack._images against the real docker daemon, the real local registry and the real base image (nothing mocked)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_docker import docker_client, local_registry  # noqa: E402,F401  (pytest fixtures)
from flowpack._errors import ImageBuildError  # noqa: E402
from flowpack._images import ImageSpec, build, pinned_packages, push, render_dockerfile  # noqa: E402

BASE = "python:3.11-slim"
SIX = "six==1.17.0"


@pytest.fixture(scope="module")
def made(docker_client):
    """Tags the tests create; removed at the end of the module (the base image stays)."""
    import docker.errors

    tags: list[str] = []
    yield tags
    for tag in reversed(tags):
        try:
            docker_client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


@pytest.fixture(scope="module")
def wheel_cache(tmp_path_factory):
    """A private wheel cache, so these tests neither read nor leave wheels in the user's cache."""
    old = os.environ.get("FLOWPACK_CACHE_DIR")
    os.environ["FLOWPACK_CACHE_DIR"] = str(tmp_path_factory.mktemp("flowpack-cache"))
    yield
    if old is None:
        del os.environ["FLOWPACK_CACHE_DIR"]
    else:
        os.environ["FLOWPACK_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def six_image(docker_client, made):
    """An image FROM the base with six from PyPI, built once for the module."""
    lines: list[str] = []
    tag = build(ImageSpec(BASE, (SIX,)), client=docker_client, progress=lines.append)
    made.append(tag)
    return tag, lines


@pytest.fixture(scope="module")
def local_project(tmp_path_factory) -> Path:
    """One tiny local project for the module (each wheel build of it takes a few seconds: pip's isolated build env)."""
    return _make_project(tmp_path_factory.mktemp("local-project"), 42)


def _run(client, tag: str, code: str) -> str:
    return client.containers.run(tag, ["python", "-c", code], remove=True).decode().strip()


def _make_project(root: Path, value: int) -> Path:
    """A tiny local project (pyproject.toml, one module) that depends on six from the index."""
    (root / "src" / "fp_local_demo").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "fp-local-demo"
        version = "0.1.0"
        dependencies = ["six"]
        """))
    (root / "src" / "fp_local_demo" / "__init__.py").write_text(f"VALUE = {value}\n")
    return root


def test_pypi_package_is_importable_in_the_built_image(docker_client, six_image):
    tag, lines = six_image
    assert tag.startswith("flowpack/step:") and len(tag.rsplit(":", 1)[1]) == 16
    out = _run(docker_client, tag, "import six, sys; print(six.__version__, sys.executable)")
    assert out == "1.17.0 /opt/venv/bin/python"
    image = docker_client.images.get(tag)
    assert image.labels["org.flowpack.digest"] == ImageSpec(BASE, (SIX,)).digest(client=docker_client)
    assert not any("PIP_CERT" in env for env in image.attrs["Config"]["Env"])  # the build-time CA setting stays out


def test_unchanged_spec_is_not_rebuilt(docker_client, six_image):
    tag, _ = six_image
    before = docker_client.images.get(tag).id
    lines: list[str] = []
    again = build(ImageSpec(BASE, (SIX,)), client=docker_client, progress=lines.append)
    assert again == tag
    assert docker_client.images.get(tag).id == before
    assert not any(line.startswith("Step ") for line in lines)
    assert any("skipped" in line for line in lines)
    # package order doesn't change the content, so it doesn't change the tag either
    assert ImageSpec(BASE, ("pyyaml==6.0.2", SIX)).tag() == ImageSpec(BASE, (SIX, "pyyaml==6.0.2")).tag()


def test_same_content_under_a_registry_name_is_retagged_not_rebuilt(docker_client, six_image, made, local_registry):
    tag, _ = six_image
    lines: list[str] = []
    remote = build(ImageSpec(BASE, (SIX,)), client=docker_client, registry=local_registry, progress=lines.append)
    made.append(remote)
    assert remote == f"{local_registry}/{tag}"
    assert docker_client.images.get(remote).id == docker_client.images.get(tag).id
    assert not any(line.startswith("Step ") for line in lines)


def test_local_package_ships_as_wheel_and_push_pull_round_trip(docker_client, made, local_registry, wheel_cache,
                                                               local_project):
    import docker.errors

    project = local_project
    spec = ImageSpec(BASE, (), (str(project),))
    tag = build(spec, client=docker_client, registry=local_registry)
    made.append(tag)
    assert tag.startswith(f"{local_registry}/flowpack/step:")
    assert _run(docker_client, tag, "import fp_local_demo, six; print(fp_local_demo.VALUE)") == "42"

    events: list[str] = []
    push(tag, client=docker_client, progress=events.append)
    assert any("digest: sha256:" in e or "Pushed" in e or "exists" in e for e in events)
    image_id = docker_client.images.get(tag).id
    docker_client.images.remove(tag, force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)

    repository, image_tag = tag.rsplit(":", 1)
    docker_client.images.pull(repository, tag=image_tag)
    assert docker_client.images.get(tag).id == image_id
    assert _run(docker_client, tag, "import fp_local_demo; print(fp_local_demo.VALUE + 1)") == "43"


def test_local_package_digest_follows_wheel_content(docker_client, wheel_cache, local_project):
    spec = ImageSpec(BASE, (), (str(local_project),))
    first = spec.digest(client=docker_client)
    module = local_project / "src" / "fp_local_demo" / "__init__.py"
    original = module.read_text()
    st = module.stat()
    try:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same bytes, new mtime: wheel rebuilt
        assert spec.digest(client=docker_client) == first
        module.write_text("VALUE = 2\n")
        assert spec.digest(client=docker_client) != first
    finally:
        module.write_text(original)


def test_failing_build_names_the_failing_step(docker_client, made):
    bad = "flowpack-no-such-package-zz9==1.0"
    spec = ImageSpec(BASE, (SIX, bad))
    with pytest.raises(ImageBuildError) as info:
        build(spec, client=docker_client)
    message = str(info.value)
    assert "Step " in message and ": RUN " in message and "pip" in message and bad in message
    assert info.value.step.startswith("Step ") and info.value.output_tail
    assert "No matching distribution" in message or "Could not find a version" in message
    assert not any(spec.tag() in t for img in docker_client.images.list() for t in img.tags)


def test_push_of_a_missing_image_raises(docker_client, local_registry):
    with pytest.raises(ImageBuildError, match="push of"):
        push(f"{local_registry}/flowpack/step:0000000000000000", client=docker_client)


def test_push_to_an_unreachable_registry_raises(docker_client, six_image, made):
    # the daemon reports this as an error event in the stream, which the SDK alone would not raise
    tag, _ = six_image
    unreachable = "127.0.0.1:1/flowpack/step:unreachable"  # port 1: nothing listens there
    docker_client.images.get(tag).tag("127.0.0.1:1/flowpack/step", "unreachable")
    made.append(unreachable)
    with pytest.raises(ImageBuildError, match="push of 127.0.0.1:1/.*refused"):
        push(unreachable, client=docker_client)


@pytest.mark.parametrize("bad", [
    'six==1.17.0"]\nRUN ["touch", "/pwned',
    "six==1.17.0\nRUN touch /pwned",
    "--index-url=http://evil.example/simple six",
    "-r /etc/passwd",
    "six==1.17.0 && touch /pwned",
    "",
])
def test_package_string_injection_is_rejected(bad):
    with pytest.raises(ImageBuildError) as info:
        ImageSpec(BASE, ("six==1.17.0", bad))
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["python:3.11-slim\nRUN touch /pwned", "python:3.11 AS x", "Python:3.11", ""])
def test_base_image_injection_is_rejected(bad):
    with pytest.raises(ImageBuildError, match="base="):
        ImageSpec(bad)


def test_every_inserted_value_stays_one_json_argument():
    tricky = 'six==1.17.0; python_version >= "3.8" and sys_platform != "win32"'
    text = render_dockerfile(ImageSpec(BASE, (tricky, "pyyaml[libyaml]>=6,<7")), ["demo-0.1.0-py3-none-any.whl"],
                             digest="0" * 64)
    instructions = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert [line.split(" ", 1)[0] for line in instructions] == \
        ["FROM", "RUN", "ENV", "COPY", "ARG", "RUN", "COPY", "RUN", "RUN", "LABEL"]
    pip_runs = [json.loads(line[4:]) for line in instructions if line.startswith("RUN [") and "pip" in line]
    assert pip_runs[0][-2:] == ["pyyaml[libyaml]>=6,<7", tricky]
    assert pip_runs[1][-3:] == ["/tmp/flowpack-build/wheels/demo-0.1.0-py3-none-any.whl",
                                "pyyaml[libyaml]>=6,<7", tricky]


def test_pinned_packages_maps_modules_to_installed_distributions():
    yaml_version = importlib.metadata.version("PyYAML")
    pins = pinned_packages(["yaml", "os", "json", "flowpack", "yaml.constructor", "no_such_module_zz9"])
    assert pins == (f"PyYAML=={yaml_version}",)
    assert pinned_packages(["six", "yaml"]) == (f"PyYAML=={yaml_version}", f"six=={importlib.metadata.version('six')}")


def _make_compiled_project(root: Path) -> Path:
    """A local project with a C extension, as a scientist's package under development often has."""
    project = root / "fp_compiled_demo"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "fp-compiled-demo"
        version = "0.1"
    """))
    (project / "setup.py").write_text(textwrap.dedent("""
        from setuptools import Extension, setup
        setup(ext_modules=[Extension("fp_compiled_demo", ["src/demo.c"])])
    """))
    (project / "src" / "demo.c").write_text(textwrap.dedent("""
        #include <Python.h>
        static PyObject *twice(PyObject *self, PyObject *arg) {
            long v = PyLong_AsLong(arg);
            if (v == -1 && PyErr_Occurred()) return NULL;
            return PyLong_FromLong(2 * v);
        }
        static PyMethodDef methods[] = {{"twice", twice, METH_O, "2 * v"}, {NULL, NULL, 0, NULL}};
        static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fp_compiled_demo", NULL, -1, methods};
        PyMODINIT_FUNC PyInit_fp_compiled_demo(void) { return PyModule_Create(&module); }
    """))
    return project


def test_local_package_with_a_compiled_extension_runs_in_the_image(docker_client, made, wheel_cache, tmp_path):
    project = _make_compiled_project(tmp_path)
    tag = build(ImageSpec(BASE, (), (str(project),)), client=docker_client)
    made.append(tag)
    code = "import fp_compiled_demo; print(fp_compiled_demo.twice(21), fp_compiled_demo.__file__.endswith('.so'))"
    assert _run(docker_client, tag, code) == "42 True"
