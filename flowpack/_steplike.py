"""What the workflow builder reads of a step (`StepLike`), and the base of the forms a map or a call runs a step in
(`StepForm`: batched, counting its items, keying its files, exporting an output), which are the step's own in every
member but their name and template."""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable, Protocol

from ._capture_facts import ImageFacts
from ._options import Options
from ._signature import Interface


class StepLike(Protocol):
    """An op, a shell op or a sub-workflow (`_op.Step` and its subclasses), or a form of one (`StepForm`)."""

    @property
    def name(self) -> str:
        """Its template's name (a Kubernetes name)."""

    @property
    def raw_name(self) -> str:
        """The name as the user wrote it: two different steps of one workflow may not share it."""

    @property
    def interface(self) -> Interface: ...

    @property
    def op(self) -> StepLike:
        """The step itself, whatever form a map runs it in."""

    @property
    def decodes_protected(self) -> bool:
        """Its inputs decode text behind the marker or a codec tag (a Python op, or a sub-workflow's ops)."""

    @property
    def runs_script(self) -> bool:
        """It runs a Python op's step script (which reads a big value's twin); a shell step or sub-workflow doesn't."""

    @property
    def batched(self) -> bool:
        """A batched map's form: its loop's items are batches (_batch)."""

    @property
    def options(self) -> Options | None:
        """An op's or shell op's options (retries, cache, ...); a sub-workflow has none."""

    @property
    def func(self) -> Callable[..., Any] | None:
        """The Python function whose return annotation types its outputs (an op's, a sub-workflow's body)."""

    def decodes_input(self, name: str) -> bool:
        """Input `name` takes a tagged or encoded value, which the step decodes (a sub-workflow: only the inputs
        its body hands to Python ops as they are)."""

    def signature(self) -> inspect.Signature: ...

    def template(self) -> dict: ...

    def image_facts(self) -> ImageFacts | None: ...


def caches(step: StepLike) -> bool:
    """The step was made with cache=True (Argo memoizes it)."""
    return bool(step.options is not None and step.options.cache)


class StepForm:
    """A form of `inner` with its own name and template (a copy of the inner one, changed by `adapt`); every other
    member is the inner step's."""

    def __init__(self, inner: StepLike, suffix: str, raw_suffix: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name + suffix
        self.raw_name = inner.raw_name + (suffix if raw_suffix is None else raw_suffix)
        self._template: dict | None = None

    def adapt(self, template: dict) -> None:
        """Change the copy of the inner step's template (already renamed) into this form's."""
        raise NotImplementedError

    def template(self) -> dict:
        if self._template is None:
            tpl = copy.deepcopy(self.inner.template())
            tpl["name"] = self.name
            self.adapt(tpl)
            self._template = tpl
        return self._template

    @property
    def op(self) -> StepLike:
        return self.inner.op

    @property
    def batched(self) -> bool:
        return self.inner.batched

    @property
    def interface(self) -> Interface:
        return self.inner.interface

    @property
    def decodes_protected(self) -> bool:
        return self.inner.decodes_protected

    @property
    def runs_script(self) -> bool:
        return self.inner.runs_script

    @property
    def options(self) -> Options | None:
        return self.inner.options

    @property
    def func(self) -> Callable[..., Any] | None:
        return self.inner.func

    def decodes_input(self, name: str) -> bool:
        return self.inner.decodes_input(name)

    def signature(self) -> inspect.Signature:
        return self.inner.signature()

    def image_facts(self) -> ImageFacts | None:
        return self.inner.image_facts()
