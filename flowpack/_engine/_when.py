"""Argo `when` expressions after substitution, read with govaluate's rules (workflow/controller/steps.go
`shouldExecute`, govaluate at commit 7625b7f, parsing.go `readToken`), not Python's.

govaluate's lexer: a number is a run of digits and dots (`1e-07` is the number 1 followed by the word `e`, an
error); a string starts at `'` or `"` and ends at the next quote of either kind, a backslash escaping the next
character; text that parses as a date or time becomes a time (compared as Unix seconds); a word of letters, digits,
`_` and `.` is `true`, `false`, the operator `in`, an accessor (an error here) when it holds a dot, else a variable,
which Argo turns into a string of its name (`null > 3` compares a string with a number: an error). `==` compares
type and value; `<`, `>`, `<=`, `>=` take two numbers or two strings; `&&`, `||` and `!` take booleans.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .._errors import ManifestError

_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "&&", "||", "!", "-")
_TIME_FORMATS = ("%a %b %d %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
                 "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H%z", "%I:%M%p")


def _time(text: str) -> float | None:
    for fmt in _TIME_FORMATS:
        try:
            value = datetime.strptime(text.replace("Z", "+0000"), fmt)
        except ValueError:
            continue
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    return None


def _lex(text: str) -> list[tuple[str, object]]:
    tokens: list[tuple[str, object]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c.isdigit() or c == ".":
            j = i
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            try:
                tokens.append(("value", float(text[i:j])))
            except ValueError:
                raise ManifestError(f"Unable to parse numeric value '{text[i:j]}' to float64") from None
            i = j
        elif c in "'\"":
            j, buf = i + 1, []
            while j < n and text[j] not in "'\"":
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise ManifestError("Unclosed string literal")
            word = "".join(buf)
            stamp = _time(word)
            tokens.append(("value", stamp if stamp is not None else word))
            i = j + 1
        elif c.isalpha():
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            word = text[i:j]
            if word in ("true", "false"):
                tokens.append(("value", word == "true"))
            elif word in ("in", "IN"):
                raise ManifestError("the 'in' operator is not supported by the local engine")
            elif "." in word:
                raise ManifestError(f"'{word}' is an accessor, which Argo's `when` can't evaluate")
            else:
                tokens.append(("value", word))  # a variable: Argo reads it as a string of its name
            i = j
        elif c == "[":
            j = text.find("]", i)
            if j < 0:
                raise ManifestError("Unclosed parameter bracket")
            tokens.append(("value", text[i + 1:j]))
            i = j + 1
        elif c in "()":
            tokens.append((c, c))
            i += 1
        else:
            j = i
            while j < n and not (text[j].isalnum() or text[j].isspace() or text[j] in "()[]'\""):
                j += 1
            op = text[i:j]
            if op not in _OPERATORS:
                raise ManifestError(f"Invalid token: '{op}'")
            tokens.append(("op", op))
            i = j
    return tokens


class _Parser:
    def __init__(self, tokens: list):
        self.toks, self.i = tokens, 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        tok = self.peek()
        if tok[0] is None:
            raise ManifestError("Unexpected end of expression")
        self.i += 1
        return tok

    def expr(self):
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = _logic(left, right, "||")
        return left

    def and_(self):
        left = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.cmp()
            left = _logic(left, right, "&&")
        return left

    def cmp(self):
        left = self.unary()
        kind, op = self.peek()
        if kind == "op" and op in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return _compare(left, op, self.unary())
        return left

    def unary(self):
        kind, value = self.take()
        if (kind, value) == ("op", "!"):
            operand = self.unary()
            if not isinstance(operand, bool):
                raise ManifestError(f"Value '{operand}' cannot be used with the modifier '!', it is not a bool")
            return not operand
        if (kind, value) == ("op", "-"):
            operand = self.unary()
            if isinstance(operand, bool) or not isinstance(operand, float):
                raise ManifestError(f"Value '{operand}' cannot be used with the prefix '-'")
            return -operand
        if kind == "(":
            inner = self.expr()
            if self.take()[0] != ")":
                raise ManifestError("Unbalanced parenthesis")
            return inner
        if kind == "value":
            follow = self.peek()[0]
            if follow in ("value", "("):
                raise ManifestError("Cannot transition token types: two values in a row")
            return value
        raise ManifestError(f"Unexpected token {value!r}")


def _logic(left, right, op: str) -> bool:
    if not (isinstance(left, bool) and isinstance(right, bool)):
        raise ManifestError(f"Value '{left}' or '{right}' cannot be used with the comparator '{op}', it is not a bool")
    return (left and right) if op == "&&" else (left or right)


def _compare(left, op: str, right) -> bool:
    if op in ("==", "!="):
        same = type(left) is type(right) and left == right
        return same if op == "==" else not same
    numbers = isinstance(left, float) and isinstance(right, float)
    texts = isinstance(left, str) and isinstance(right, str)
    if not (numbers or texts):
        raise ManifestError(f"Value '{left}' cannot be used with the comparator '{op}' and '{right}'")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def evaluate_when(expr: str) -> bool:
    """Evaluate a substituted `when` as Argo does; an expression Argo can't read raises ManifestError."""
    try:
        parser = _Parser(_lex(expr))
        result = parser.expr()
        if parser.peek()[0] is not None:
            raise ManifestError(f"Unexpected token {parser.peek()[1]!r}")
    except ManifestError as exc:
        raise ManifestError(f"Invalid 'when' expression {expr!r}: {exc}") from None
    if not isinstance(result, bool):
        raise ManifestError(f"Expected boolean evaluation for {expr!r}. Got {result!r}")
    return result
