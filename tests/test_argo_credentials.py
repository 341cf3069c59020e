"""`ARGO_SERVER=user:password@host:port`: the password becomes a Basic Authorization token at once and never shows
in a repr, a URL, an error message or the command line's output."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from argo_double import argo_server, argo_store  # noqa: F401
from fixtures_s3 import s3_server, s3_store  # noqa: F401
from flowpack._argo import ArgoClient
from flowpack._argo._config import ArgoConfig
from flowpack._errors import ArgoError

PASSWORD = "pa55-w0rd-9e1f"


def test_the_password_leaves_the_server_setting_and_becomes_a_basic_token(monkeypatch):
    monkeypatch.setenv("ARGO_SERVER", f"alice:{PASSWORD}@127.0.0.1:9")
    monkeypatch.delenv("ARGO_TOKEN", raising=False)
    client = ArgoClient(secure=False)
    shown = [repr(client), str(client), repr(client.config), str(client.config), client.config.base_url,
             client.config.server]
    assert not any(PASSWORD in text for text in shown), shown
    assert client.config.base_url == "http://127.0.0.1:9"
    import base64

    assert client.config.authorization() == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def test_a_scheme_and_an_escaped_password_are_kept_apart():
    config = ArgoConfig(server=f"https://bob:{PASSWORD}%40x@argo.example:2746")
    assert config.base_url == "https://argo.example:2746" and PASSWORD not in repr(config)
    assert config.with_(namespace="x").base_url == "https://argo.example:2746"


def test_errors_never_name_the_password(monkeypatch, argo_server):
    monkeypatch.delenv("ARGO_TOKEN", raising=False)
    for server in (f"alice:{PASSWORD}@127.0.0.1:9", f"alice:{PASSWORD}@{argo_server.address}"):
        client = ArgoClient(server=server, secure=False, namespace="argo")
        with pytest.raises(ArgoError) as info:  # unreachable, then 401 from the server (it wants its own token)
            client.json("GET", "/api/v1/workflows/argo", what="list workflows")
        assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)


def test_the_command_line_never_prints_the_password(tmp_path):
    env = dict(os.environ, ARGO_SERVER=f"alice:{PASSWORD}@127.0.0.1:9", ARGO_SECURE="false")
    env.pop("ARGO_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "flowpack", "list"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode != 0
    assert "127.0.0.1:9" in done.stdout + done.stderr and PASSWORD not in done.stdout + done.stderr
