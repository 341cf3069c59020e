"""The Jinja environment that renders every output format from the project's `templates/` folder."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping


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


def json_digest(value: object) -> str:
    """sha256 (hex) of a value's JSON with sorted keys: the same for equal values, whatever their key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


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
    env.filters["pyrepr"] = repr
    env.filters["present"] = present
    env.filters["json_digest"] = json_digest
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)


def render_json(template: str, **context: object) -> dict:
    """Render a JSON-shaped template and parse it: the result is a plain dict."""
    return json.loads(render(template, **context))
