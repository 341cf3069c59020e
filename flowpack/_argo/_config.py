"""Where the Argo Server is and how to talk to it: arguments, then Argo's own environment variables, then a file.

The environment variables are the ones Argo's CLI reads, with the same meaning:
  ARGO_SERVER                host:port (no scheme), e.g. localhost:2746
  ARGO_SECURE                "true" (default): HTTPS; "false": plain HTTP
  ARGO_INSECURE_SKIP_VERIFY  "true": do not verify the server's TLS certificate (self-signed dev servers only)
  ARGO_BASE_HREF             path prefix when the server sits behind an ingress, e.g. /argo
  ARGO_NAMESPACE             namespace for workflows (default "default")
  ARGO_TOKEN                 "Bearer ..." (a bare token gets "Bearer " put in front)

The config file (TOML) is $FLOWPACK_ARGO_CONFIG, else $XDG_CONFIG_HOME/flowpack/argo.toml (~/.config/...), with
keys server, namespace, secure, insecure_skip_verify, base_href, ca_cert, token_file (or token). The token is kept
out of repr(), str(), error messages and logs.
"""

from __future__ import annotations

import base64
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote

from ._errors import ArgoConfigError

ENV = {
    "server": "ARGO_SERVER",
    "namespace": "ARGO_NAMESPACE",
    "secure": "ARGO_SECURE",
    "insecure_skip_verify": "ARGO_INSECURE_SKIP_VERIFY",
    "base_href": "ARGO_BASE_HREF",
    "token": "ARGO_TOKEN",
}
FILE_KEYS = ("server", "namespace", "secure", "insecure_skip_verify", "base_href", "ca_cert", "token", "token_file")
DEFAULT_NAMESPACE = "default"


class Secret:
    """A string that never shows itself: repr/str/format print '***'; `.reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # never pickled into a run record or a step
        raise TypeError("a flowpack Secret (the Argo token) can't be pickled")


@dataclass(frozen=True)
class ArgoConfig:
    """Connection settings for one Argo Server; build with `ArgoConfig.resolve(...)` to read env and file."""

    server: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    secure: bool = True
    insecure_skip_verify: bool = False
    base_href: str = ""
    ca_cert: str | None = None
    token: Secret | None = field(default=None, repr=False)
    source: str = "arguments"  # where the server setting came from (for error messages)

    def __repr__(self) -> str:
        tok = "set" if self.token else "not set"
        return (f"ArgoConfig(server={self.server!r}, namespace={self.namespace!r}, secure={self.secure}, "
                f"insecure_skip_verify={self.insecure_skip_verify}, base_href={self.base_href!r}, token={tok})")

    __str__ = __repr__

    def __post_init__(self) -> None:
        """`user:password@host:port` (as some ingresses want): the credentials leave the server setting at once and
        become a Basic Authorization token (a Secret), so no repr, URL or message can show the password."""
        if not self.server or "@" not in self.server:
            return
        scheme, sep, rest = self.server.rpartition("://")
        userinfo, _, host = rest.rpartition("@")
        object.__setattr__(self, "server", scheme + sep + host)
        if self.token is None and userinfo:
            basic = base64.b64encode(unquote(userinfo).encode("utf-8")).decode("ascii")
            object.__setattr__(self, "token", Secret("Basic " + basic))

    @property
    def base_url(self) -> str:
        """scheme://host:port/base-href, without a trailing slash."""
        if not self.server:
            raise ArgoConfigError(
                "no Argo Server configured: set ARGO_SERVER=host:port (e.g. localhost:2746), pass server=..., "
                f"or put server = \"host:port\" in {config_path()}"
            )
        server = self.server.rstrip("/")
        if "://" in server:  # tolerated although Argo's CLI wants host:port: the scheme then decides
            scheme, _, server = server.partition("://")
        else:
            scheme = "https" if self.secure else "http"
        href = "/" + self.base_href.strip("/") if self.base_href.strip("/") else ""
        return f"{scheme}://{server}{href}"

    @property
    def verify(self) -> bool | str:
        """The `verify` argument for requests: True by default, a CA bundle path, or False when told to skip."""
        if self.insecure_skip_verify:
            return False
        return self.ca_cert or True

    def authorization(self) -> str | None:
        """The Authorization header value, or None when no token is configured."""
        if self.token is None:
            return None
        raw = self.token.reveal().strip()
        if raw.startswith(("Bearer ", "Basic ")):
            return raw
        return "Bearer " + raw

    def with_(self, **changes) -> "ArgoConfig":
        if "token" in changes and isinstance(changes["token"], str):
            changes["token"] = Secret(changes["token"])
        return replace(self, **changes)

    @classmethod
    def resolve(cls, *, server: str | None = None, namespace: str | None = None, token: str | Secret | None = None,
                secure: bool | None = None, insecure_skip_verify: bool | None = None, base_href: str | None = None,
                ca_cert: str | None = None, config_file: str | Path | None = None,
                env: Mapping[str, str] | None = None) -> "ArgoConfig":
        """Arguments win over ARGO_* environment variables, which win over the config file, which wins over defaults."""
        env = os.environ if env is None else env
        values: dict = {}
        origin: dict = {}
        path = Path(config_file) if config_file else config_path(env)
        if path.is_file():
            for k, v in _read_file(path).items():
                values[k], origin[k] = v, f"config file {path}"
        elif config_file:
            raise ArgoConfigError(f"ArgoConfig.resolve(config_file={str(config_file)!r}): no such file")
        for key, var in ENV.items():
            text = env.get(var)
            if text is None or text == "":
                continue
            if key in ("secure", "insecure_skip_verify"):
                values[key] = _bool(text, var)
            else:
                values[key] = text
            origin[key] = f"environment variable {var}"
            if key == "token":
                values.pop("token_file", None)
        args = {"server": server, "namespace": namespace, "token": token, "secure": secure,
                "insecure_skip_verify": insecure_skip_verify, "base_href": base_href, "ca_cert": ca_cert}
        for k, v in args.items():
            if v is not None:
                values[k], origin[k] = v, "arguments"
                if k == "token":
                    values.pop("token_file", None)
        token_file = values.pop("token_file", None)
        if token_file and "token" not in values:
            values["token"] = _read_token(Path(token_file).expanduser())
        tok = values.pop("token", None)
        if isinstance(tok, str):
            tok = Secret(tok) if tok.strip() else None
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in values.items() if k in known}, token=tok,
                  source=origin.get("server", "defaults"))
        return cfg


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """$FLOWPACK_ARGO_CONFIG, else $XDG_CONFIG_HOME/flowpack/argo.toml, else ~/.config/flowpack/argo.toml."""
    env = os.environ if env is None else env
    if env.get("FLOWPACK_ARGO_CONFIG"):
        return Path(env["FLOWPACK_ARGO_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "flowpack" / "argo.toml"


def _read_file(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ArgoConfigError(f"Argo config file {path}: can't read it ({exc}). "
                              f"It is TOML: server = \"host:port\"") from None
    if isinstance(data.get("argo"), dict):  # an [argo] table is accepted too
        data = data["argo"]
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ArgoConfigError(f"Argo config file {path}: unknown key(s) {unknown}; known keys: {list(FILE_KEYS)}")
    for k in ("secure", "insecure_skip_verify"):
        if k in data and not isinstance(data[k], bool):
            raise ArgoConfigError(f"Argo config file {path}: {k} must be true or false, got {data[k]!r}")
    return data


def _read_token(path: Path) -> Secret:
    try:
        return Secret(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ArgoConfigError(f"Argo token_file {str(path)!r}: can't read it ({exc.strerror})") from None


def _bool(text: str, var: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ArgoConfigError(f"{var}={text!r}: expected true or false")
