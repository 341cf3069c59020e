"""The Jinja environment that renders every output format from the project's `templates/` folder."""

from __future__ import annotations

import functools
import hashlib
import json
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping


def templates_dir() -> Path:
    """`templates/` beside the package in a checkout, or `flowpack/templates` when installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "templates", here / "templates"):
        if (candidate / "step.py.j2").is_file():
            return candidate
    raise FileNotFoundError(f"flowpack's templates/ folder was not found beside {here}")


_json = json.JSONEncoder(ensure_ascii=False).encode  # one encoder for every value: rendering stays fast


def present(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping without its absent entries (None): how a template leaves out a key it has no value for."""
    return {key: value for key, value in mapping.items() if value is not None}


def records(rows: Iterable[object], *keys: str) -> list[dict[str, Any]]:
    """Each row (a typed record, e.g. a dataclass) as a mapping of `keys` to its attributes of those names:
    `parameters | records("name", "value")`."""
    return [{key: getattr(row, key) for key in keys} for row in rows]


def merged(mapping: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping with the entries of `more` added (theirs win): `{"name": n} | merged(extra)`."""
    return {**mapping, **more}


def json_digest(value: object) -> str:
    """sha256 (hex) of a value's JSON with sorted keys: the same for equal values, whatever their key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def pyrepr(value: object) -> str:
    """A Python literal of `value` for a generated script: enum members (How, Codec) as their plain text, since the
    script never imports flowpack."""
    return repr(_plain(value))


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


@functools.lru_cache(maxsize=1)
def environment():
    """Built once, on first use, so that `import flowpack` never pays for Jinja."""
    import jinja2  # lazy: Jinja loads on the first render

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["j"] = _json
    env.filters["pyrepr"] = pyrepr
    env.filters["present"] = present
    env.filters["json_digest"] = json_digest
    env.filters["records"] = records
    env.filters["merged"] = merged
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def render_json(template: str, **context: object) -> dict:
    """Render a JSON-shaped template and parse it: the result is a plain dict."""
    return json.loads(render(template, **context))
