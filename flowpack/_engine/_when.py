"""Argo `when` expressions after substitution: comparisons, &&, ||, !, parentheses (govaluate's core)."""

from __future__ import annotations

import re

from .._errors import ManifestError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\))|(?P<word>[^\s()=!<>&|'\"]+))"
)


def evaluate_when(expr: str) -> bool:
    """Evaluate a substituted `when` expression. Bare words are strings, as Argo users write `{{x}} == heads`."""
    parts, pos, text = [], 0, expr.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ManifestError(f"when {expr!r}: can't read it from position {pos}")
        pos = m.end()
        if m.group("num") is not None:
            parts.append(repr(float(m.group("num"))))
        elif m.group("str") is not None:
            parts.append(repr(m.group("str")[1:-1]))
        elif m.group("op") is not None:
            parts.append({"&&": " and ", "||": " or ", "!": " not "}.get(m.group("op"), " " + m.group("op") + " "))
        else:
            word = m.group("word")
            parts.append({"true": "True", "false": "False"}.get(word.lower(), repr(word)))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    source = "".join(parts)
    try:  # only literals, comparisons, and/or/not and parentheses reach eval
        return bool(eval(source, {"__builtins__": {}}, {}))
    except Exception as exc:
        raise ManifestError(f"when {expr!r} can't be evaluated: {exc}") from None
