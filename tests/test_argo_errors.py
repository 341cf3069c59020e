"""Connection settings and the errors a user can act on: unreachable server, TLS, 401/403, unknown namespace,
rejected manifests; the token never shows in a log, an error, a repr, a manifest or a run record; and the
test double itself refuses requests outside Argo's API spec."""

from __future__ import annotations

import json
import logging
import socket
import subprocess

import pytest
import requests

from argo_double import TOKEN, ArgoDouble, argo, argo_server, argo_store  # noqa: F401
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._argo import (
    ArgoAuthError,
    ArgoClient,
    ArgoConfig,
    ArgoConfigError,
    ArgoForbiddenError,
    ArgoManifestRejected,
    ArgoNamespaceError,
    ArgoUnreachableError,
    get,
    lint,
    list_runs,
    render_for_argo,
    submit,
)
from helpers import MEASURE_FILE

WF = '''
import flowpack as fp


@fp.op
def shout(word: str) -> str:
    print("shouting", word)
    return word.upper()


@fp.workflow
def hello(word: str = "hi") -> str:
    return shout(word)
'''


@pytest.fixture
def wf(user_module):
    return user_module(WF)


# -- configuration -------------------------------------------------------------------------------
def test_environment_variables_as_argo_cli_reads_them(tmp_path):
    env = {"ARGO_SERVER": "argo.example:2746", "ARGO_NAMESPACE": "team", "ARGO_SECURE": "false",
           "ARGO_INSECURE_SKIP_VERIFY": "true", "ARGO_BASE_HREF": "/argo/", "ARGO_TOKEN": "abc.def",
           "FLOWPACK_ARGO_CONFIG": str(tmp_path / "none.toml")}
    cfg = ArgoConfig.resolve(env=env)
    assert cfg.base_url == "http://argo.example:2746/argo"
    assert cfg.namespace == "team" and cfg.verify is False
    assert cfg.authorization() == "Bearer abc.def"  # a bare token gets the scheme Argo's CLI expects
    assert ArgoConfig.resolve(env={**env, "ARGO_TOKEN": "Bearer xyz"}).authorization() == "Bearer xyz"
    # defaults: HTTPS with verification, namespace "default"
    plain = ArgoConfig.resolve(env={"ARGO_SERVER": "h:1", "FLOWPACK_ARGO_CONFIG": str(tmp_path / "none.toml")})
    assert plain.base_url == "https://h:1" and plain.verify is True and plain.namespace == "default"
    with pytest.raises(ArgoConfigError, match="ARGO_SECURE='maybe'"):
        ArgoConfig.resolve(env={**env, "ARGO_SECURE": "maybe"})


def test_config_file_then_environment_then_arguments(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("Bearer from-file\n")
    path = tmp_path / "argo.toml"
    path.write_text(f'server = "file:1"\nnamespace = "fromfile"\nsecure = false\ntoken_file = "{token_file}"\n')
    env = {"FLOWPACK_ARGO_CONFIG": str(path)}
    cfg = ArgoConfig.resolve(env=env)
    assert (cfg.server, cfg.namespace, cfg.secure, cfg.authorization()) == ("file:1", "fromfile", False,
                                                                           "Bearer from-file")
    cfg = ArgoConfig.resolve(env={**env, "ARGO_SERVER": "env:2", "ARGO_TOKEN": "Bearer from-env"})
    assert cfg.server == "env:2" and cfg.namespace == "fromfile" and cfg.authorization() == "Bearer from-env"
    cfg = ArgoConfig.resolve(env={**env, "ARGO_SERVER": "env:2"}, server="arg:3", namespace="argns")
    assert (cfg.server, cfg.namespace) == ("arg:3", "argns")
    path.write_text('server = "x:1"\ntokn = "typo"\n')
    with pytest.raises(ArgoConfigError, match="unknown key"):
        ArgoConfig.resolve(env=env)


def test_no_server_configured_says_how_to_set_one(tmp_path, monkeypatch):
    monkeypatch.delenv("ARGO_SERVER", raising=False)
    monkeypatch.setenv("FLOWPACK_ARGO_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(ArgoConfigError, match="ARGO_SERVER=host:port"):
        ArgoClient().version()


# -- errors --------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server(wf):
    client = ArgoClient(server=f"127.0.0.1:{_closed_port()}", secure=False, token="t", timeout=5)
    with pytest.raises(ArgoUnreachableError, match="can't reach the Argo Server") as err:
        submit(wf.hello, argo=client)
    assert "ARGO_SERVER" in str(err.value) and "port-forward" in str(err.value)


def test_https_client_against_plain_http_server_says_so(argo_server):
    client = ArgoClient(server=argo_server.address, secure=True, token=TOKEN)
    with pytest.raises(ArgoUnreachableError, match="ARGO_SECURE=false"):
        list_runs(argo=client)


@pytest.fixture
def tls_double(tmp_path, argo_store):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    double = ArgoDouble(token=TOKEN, store=argo_store, workdir=tmp_path / "tls", tls=(str(cert), str(key))).start()
    yield double, cert
    double.close()
    assert not double.violations


def test_tls_is_verified_by_default(tls_double):
    double, cert = tls_double
    with pytest.raises(ArgoUnreachableError, match="certificate verification failed") as err:
        list_runs(argo=ArgoClient(server=double.address, token=TOKEN))
    assert "ca_cert" in str(err.value)
    assert list_runs(argo=ArgoClient(server=double.address, token=TOKEN, ca_cert=str(cert))) == []
    assert list_runs(argo=ArgoClient(server=double.address, token=TOKEN, insecure_skip_verify=True)) == []


def test_401_without_a_token_and_with_a_wrong_one(wf, argo_server):
    with pytest.raises(ArgoAuthError, match="No token was sent: set ARGO_TOKEN"):
        submit(wf.hello, argo=ArgoClient(server=argo_server.address, secure=False, token=None))
    with pytest.raises(ArgoAuthError, match="was not accepted") as err:
        submit(wf.hello, argo=ArgoClient(server=argo_server.address, secure=False, token="Bearer wrong"))
    assert "401" in str(err.value) and "auth-mode" in str(err.value)
    assert not argo_server.objects


def test_403_names_the_namespace_and_the_permission(wf, tmp_path, argo_store):
    double = ArgoDouble(token=TOKEN, store=argo_store, workdir=tmp_path / "d", forbidden=("locked",)).start()
    try:
        client = ArgoClient(server=double.address, secure=False, token=TOKEN, namespace="locked")
        with pytest.raises(ArgoForbiddenError, match="403 Forbidden in namespace 'locked'") as err:
            submit(wf.hello, argo=client)
        assert "RoleBinding" in str(err.value) and 'cannot create resource "workflows"' in str(err.value)
    finally:
        double.close()
    assert not double.violations


def test_unknown_namespace(wf, argo_server):
    client = ArgoClient(server=argo_server.address, secure=False, token=TOKEN, namespace="nope")
    with pytest.raises(ArgoNamespaceError, match="namespace 'nope' does not exist"):
        submit(wf.hello, argo=client)
    with pytest.raises(ArgoNamespaceError):
        get("anything", argo=client)


def test_rejected_manifest_reports_the_servers_message_and_field(wf, argo):
    manifest = render_for_argo(wf.hello, upload=False)
    manifest["spec"]["entrypoint"] = "missing"
    with pytest.raises(ArgoManifestRejected) as err:
        argo.create(manifest)
    assert err.value.server_message == "template name 'missing' undefined"  # Argo's validator's words
    assert err.value.field is None  # Argo's message names no field, so none is made up
    assert "rejected the manifest: template name 'missing' undefined" in str(err.value)
    with pytest.raises(ArgoManifestRejected, match="template name 'missing' undefined"):
        lint(manifest, argo=argo)
    manifest["spec"]["templates"][0]["name"] = "Bad_Name"  # a refusal that names its field
    with pytest.raises(ArgoManifestRejected) as err:
        argo.create(manifest)
    assert err.value.field is not None and "Bad_Name" in err.value.server_message


def test_base_href(wf, tmp_path, argo_store):
    double = ArgoDouble(token=TOKEN, store=argo_store, workdir=tmp_path / "d", base_href="/argo/").start()
    try:
        ok = ArgoClient(server=double.address, secure=False, token=TOKEN, base_href="/argo")
        run = submit(wf.hello, argo=ok, word="yo").wait(timeout=60, progress=False, interval=0.1)
        assert run.result() == "YO"
        assert all(path.startswith("/argo/api/v1/") for _, path in double.requests)
        missing = ArgoClient(server=double.address, secure=False, token=TOKEN)
        with pytest.raises(Exception, match="ARGO_BASE_HREF"):
            list_runs(argo=missing)
        assert double.violations and "outside the server's base href" in double.violations[0]
        double.violations.clear()
    finally:
        double.close()
    assert not double.violations


# -- the token stays secret ----------------------------------------------------------------------
def test_token_never_appears_in_logs_errors_reprs_manifests_or_records(wf, argo_server, argo_store, caplog,
                                                                       tmp_path):
    caplog.set_level(logging.DEBUG)
    client = ArgoClient(server=argo_server.address, secure=False, token=f"Bearer {TOKEN}")
    texts = [repr(client), str(client), repr(client.config), str(client.config), repr(client.config.token)]
    manifest = render_for_argo(wf.hello, upload=False)
    texts.append(json.dumps(manifest))
    run = submit(wf.hello, argo=client, store=argo_store, word="secret-check")
    texts += [repr(run), json.dumps(run.status())]
    run.wait(timeout=60, progress=False, interval=0.1)
    texts += [str(ln) for ln in run.logs()]
    texts.append(json.dumps(run.workflow))
    assert run.result() == "SECRET-CHECK"
    for bad in (ArgoClient(server=argo_server.address, secure=False, token=f"Bearer {TOKEN}x"),
                ArgoClient(server=argo_server.address, secure=False, token=f"Bearer {TOKEN}", namespace="nope"),
                ArgoClient(server=f"127.0.0.1:{_closed_port()}", secure=False, token=f"Bearer {TOKEN}", timeout=5)):
        with pytest.raises(Exception) as err:
            get(run.name, argo=bad)
        texts += [str(err.value), repr(err.value)]
    texts.append(caplog.text)
    # everything the double stored and every file the run wrote (run records, step folders)
    texts.append(json.dumps([o for o in argo_server.objects.values()], default=str))
    for f in argo_server.workdir.rglob("*"):
        if f.is_file():
            texts.append(f.read_bytes().decode("utf-8", "replace"))
    bare = TOKEN.split(":", 1)[1]
    for text in texts:
        assert TOKEN not in text and bare not in text
    assert "argo GET /api/v1/workflows/" in caplog.text  # debug logging did run
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(client.config.token)


def test_a_token_in_a_parameter_is_refused_before_sending(wf, argo):
    with pytest.raises(ArgoConfigError, match="credential"):
        submit(wf.hello, argo=argo, word=TOKEN)


# -- the double is strict ------------------------------------------------------------------------
def test_double_records_requests_outside_the_spec(argo_server):
    base = f"http://{argo_server.address}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    requests.get(base + "/api/v1/nothing-here", headers=headers, timeout=10)
    requests.post(base + "/api/v1/workflows/argo", headers=headers, timeout=10,
                  json={"workflow": {"metadata": {"generateName": "x-"}, "spec": {"entrypoint": "a", "templates": [
                      {"name": "a", "container": {"image": "busybox"}}]}}, "unknownField": 1})
    requests.get(base + "/api/v1/workflows/argo?bogusOption=1", headers=headers, timeout=10)
    requests.put(base + "/api/v1/workflows/argo/x/stop", headers=headers, timeout=10,
                 json={"name": "x", "strategy": "now"})
    found = "\n".join(argo_server.violations)
    assert "not an endpoint of Argo's API spec" in found
    assert "unknownField" in found and "strategy" in found
    assert "'bogusOption' is not in the spec" in found
    argo_server.violations.clear()
    for wf_obj in argo_server.runs.values():
        wf_obj.join(30)


def test_local_input_files_need_a_store(user_module, argo, argo_server, tmp_path):
    m = user_module(MEASURE_FILE)
    f = tmp_path / "in.bin"
    f.write_bytes(b"abc")
    with pytest.raises(Exception, match=r"local input files .*in\.bin.* pass store="):
        submit(m.measure, argo=argo, data=f)
    assert not argo_server.objects  # nothing was created
