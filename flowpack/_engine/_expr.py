"""Argo's two small languages as the local engine needs them: `{{...}}` substitution and `depends` expressions."""

from __future__ import annotations

import json
import re

from .._errors import ManifestError
from ._batch import parse_chunk
from ._choice import parse_choice, resolve_choice
from ._cond import evaluate
from ._exitvalue import parse_exit_value
from ._tolerance import parse_check
from ._zip import parse_zip

_VAR = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_DEPENDS_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z0-9][-A-Za-z0-9]*)(?:\.(?P<phase>Succeeded|Failed|Errored|Skipped|Omitted|Daemoned"
    r"|AnySucceeded|AllFailed))?|(?P<op>&&|\|\||!|\(|\)))"
)
DONE_OK = ("Succeeded", "Skipped", "Daemoned")


# The one Argo expression flowpack writes: a step's output if it succeeded, else an input's default. The output is
# read with expr-lang's `get`, so no member path names it: Argo (from v3.7.11 and v4.0.2) requeues forever while an
# expression names a variable that is missing, and a skipped, omitted or failed step has no outputs (checked with
# Argo's controller for a failed step: the `tasks['x'].outputs.parameters['p']` form never completes).
FALLBACK = re.compile(r"^=tasks\['([^']+)'\]\.status == 'Succeeded' \? get\(get\(get\(tasks\['\1'\], 'outputs'\), "
                      r"'parameters'\), '([^']+)'\) : (\"(?:[^\"\\]|\\.)*\")$", re.S)


def fallback_expression(task: str, output: str, default_literal: str) -> str:
    """The fallback expression tag for `task`'s output parameter, with an expr-lang string literal as default."""
    return "{{=tasks['%s'].status == 'Succeeded' ? get(get(get(tasks['%s'], 'outputs'), 'parameters'), '%s') : %s}}" % (
        task, task, output, default_literal)


def parse_fallback(key: str) -> tuple[str, str, str] | None:
    """(task, output parameter, default text) of a fallback expression, or None for anything else."""
    m = FALLBACK.match(key)
    return (m.group(1), m.group(2), json.loads(m.group(3))) if m else None


# The other one: a memoization key's hash of a template's input values, "=sprig.sha256sum(sprig.sha256sum(
# inputs.parameters.a) + ...)". Each value's digest has a fixed length, so no two calls share a key.
_MEMO_PART = re.compile(r"sprig\.sha256sum\(inputs\.parameters\.([A-Za-z_][A-Za-z0-9_]*)\)")


def memo_expression(params: list[str]) -> str:
    """The Argo expression (without braces) hashing the named input parameters into 64 hex characters."""
    return "=sprig.sha256sum(" + " + ".join("sprig.sha256sum(inputs.parameters.%s)" % p for p in params) + ")"


def parse_memo(key: str) -> list[str] | None:
    """The input parameters a memo expression hashes, or None for anything else."""
    if not (key.startswith("=sprig.sha256sum(") and key.endswith(")")):
        return None
    parts = key[len("=sprig.sha256sum("):-1].split(" + ")
    names = [m.group(1) for m in map(_MEMO_PART.fullmatch, parts) if m]
    return names if len(names) == len(parts) else None


def substitute(text: str, values: dict[str, str], where: str) -> str:
    """Replace every `{{name}}` with its value, as Argo does; an unknown name is an error, as on Argo."""
    if "{{" not in text:
        return text

    def repl(m: re.Match) -> str:
        key = m.group(1)
        try:
            return values[key]
        except KeyError:
            pass
        fallback = parse_fallback(key) if key.startswith("=") else None
        if fallback is not None:
            task, output, default = fallback
            if values.get(f"tasks.{task}.status") == "Succeeded":
                return values.get(f"tasks.{task}.outputs.parameters.{output}", default)
            return default
        handed = parse_exit_value(key[1:]) if key.startswith("=") else None
        if handed is not None:  # a step's output handed to the exit op, or its default (_exitvalue)
            return handed.resolve(values)
        chunked = parse_chunk(key[1:]) if key.startswith("=") else None
        if chunked is not None:  # a run-time list cut into a batched map's batches (_batch)
            return chunked.items(values)
        zipped = parse_zip(key[1:]) if key.startswith("=") else None
        if zipped is not None:  # several run-time lists zipped into a map's items (_zip)
            return zipped.items(values)
        check = parse_check(key[1:]) if key.startswith("=") else None
        if check is not None:  # a tolerant map's check: did few enough items fail (_tolerance)
            return "true" if check.holds(values) else "false"
        choice = parse_choice(key[1:]) if key.startswith("=") else None
        if choice is not None:  # fp.one_of: the output of whichever step succeeded
            return resolve_choice(choice, values, where)
        if key.startswith("="):  # a condition flowpack wrote (see _cond); anything else is refused there
            try:
                return "true" if evaluate(key[1:], values) else "false"
            except ManifestError as exc:
                raise ManifestError(f"{where}: {exc} (the local engine evaluates only flowpack's own Argo "
                                    f"expressions)") from None
        raise ManifestError(f"{where}: failed to resolve {{{{{key}}}}}")

    return _VAR.sub(repl, text)


def references(text: str) -> list[str]:
    """The names inside `{{...}}` in a string."""
    return _VAR.findall(text) if "{{" in text else []


_SIMPLE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9]*(?: && [A-Za-z0-9][-A-Za-z0-9]*)*$")


def parse_depends(expr: str) -> tuple[list[tuple[str, str, str | None]], set[str]]:
    """Tokens of a depends expression and the task names it mentions."""
    if _SIMPLE.match(expr):  # the common form, "a && b": no need for the tokenizer
        simple = expr.split(" && ")
        tokens: list[tuple[str, str, str | None]] = []
        for i, name in enumerate(simple):
            if i:
                tokens.append(("op", "&&", None))
            tokens.append(("name", name, None))
        return tokens, set(simple)
    names: set[str] = set()
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _DEPENDS_TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ManifestError(f"depends expression {expr!r}: can't read it from position {pos}")
        if m.group("name"):
            tokens.append(("name", m.group("name"), m.group("phase")))
            names.add(m.group("name"))
        else:
            tokens.append(("op", m.group("op"), None))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return tokens, names


def evaluate_depends(tokens, phases: dict[str, str], children_phases: dict[str, list[str]] | None = None) -> bool:
    """True when the expression holds for the finished tasks' phases (a bare name means it succeeded or was skipped)."""
    if len(tokens) % 2 and all(token == (("op", "&&", None) if i % 2 else ("name", token[1], None))
                               for i, token in enumerate(tokens)):  # "a && b", as most are: no eval
        return all(phases.get(name) in DONE_OK for _, name, _ in tokens[::2])
    parts = []
    for kind, value, phase in tokens:
        if kind == "op":
            parts.append({"&&": " and ", "||": " or ", "!": " not ", "(": "(", ")": ")"}[value])
            continue
        actual = phases.get(value)
        if phase is None:
            ok = actual in DONE_OK
        elif phase == "AnySucceeded":
            ok = any(p == "Succeeded" for p in (children_phases or {}).get(value, []))
        elif phase == "AllFailed":
            kids = (children_phases or {}).get(value, [])
            ok = bool(kids) and all(p == "Failed" for p in kids)  # as Argo: an Error item is not Failed
        elif phase == "Errored":
            ok = actual == "Error"
        else:
            ok = actual == phase
        parts.append("True" if ok else "False")
    return bool(eval("".join(parts) or "True", {"__builtins__": {}}, {}))  # only True/False/and/or/not/() reach here
