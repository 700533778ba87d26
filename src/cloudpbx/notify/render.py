"""Rendering tenants' templates safely: Jinja2's sandbox, narrowed to a language that can only show data.

A template may print values (`{{ account.name }}`), pick among them (`{% if %}`), loop over the data it is given
(`{% for %}`, two deep at most) and apply a few filters with constant arguments. Everything that computes or
reaches outside is refused when the template is saved and again before it renders: calls, macros, assignments,
arithmetic, imports, includes, blocks. The source is bounded, and so is the output (rendering stops at the cap),
so a template can neither run code nor run long nor grow without bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

MAX_SOURCE = 65_536  # characters of one template (subject, text or HTML body)
MAX_OUTPUT = 262_144  # characters one rendering may produce
MAX_LOOP_DEPTH = 2
MAX_ARGUMENT = 1000  # the largest number a filter argument may be (truncate, round)
FILTERS = [
    "abs",
    "capitalize",
    "count",
    "d",
    "default",
    "e",
    "escape",
    "first",
    "float",
    "int",
    "join",
    "last",
    "length",
    "lower",
    "round",
    "string",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
]
TESTS = [
    "defined",
    "divisibleby",
    "eq",
    "even",
    "ge",
    "gt",
    "in",
    "le",
    "lower",
    "lt",
    "ne",
    "none",
    "number",
    "odd",
    "string",
    "undefined",
    "upper",
]
ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Tuple,
    nodes.Filter,
    nodes.Test,
    nodes.If,
    nodes.For,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.CondExpr,
    nodes.Concat,
    nodes.Keyword,
)


class RenderError(ValueError):
    """The template is not one this platform renders (or failed to render): the message says why."""


def _environment(html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=html, auto_reload=False)
    env.globals.clear()  # no range, lipsum, namespace, cycler...
    env.filters = {name: env.filters[name] for name in FILTERS}
    env.tests = {name: env.tests[name] for name in TESTS}
    return env


ENVIRONMENTS = {False: _environment(False), True: _environment(True)}


def _check(node: nodes.Node, depth: int = 0) -> None:
    if not isinstance(node, ALLOWED) or type(node).__name__ in ("Call", "Macro", "Assign"):
        raise RenderError(f"templates may not use {type(node).__name__} (only values, if, for and filters)")
    if isinstance(node, nodes.Filter | nodes.Test):
        _check_call(node)
    if isinstance(node, nodes.For):
        if node.recursive:
            raise RenderError("recursive loops are not allowed")
        depth += 1
        if depth > MAX_LOOP_DEPTH:
            raise RenderError(f"loops may nest {MAX_LOOP_DEPTH} deep at most")
    for child in node.iter_child_nodes():
        _check(child, depth)


def _check_call(node: nodes.Filter | nodes.Test) -> None:
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        raise RenderError(f"{node.name}: no * or ** arguments")
    for arg in [*node.args, *(keyword.value for keyword in node.kwargs)]:
        if not isinstance(arg, nodes.Const):
            raise RenderError(f"{node.name}: arguments must be constants")
        if isinstance(arg.value, int | float) and abs(arg.value) > MAX_ARGUMENT:
            raise RenderError(f"{node.name}: numbers up to {MAX_ARGUMENT}")


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    if len(source) > MAX_SOURCE:
        raise RenderError(f"a template is {MAX_SOURCE} characters at most")
    env = ENVIRONMENTS[html]
    try:
        _check(env.parse(source))
        return env.from_string(source)
    except TemplateError as exc:
        raise RenderError(f"template syntax: {exc.message}") from None


def check(source: str, html: bool = False) -> None:
    """Refuse a template this module would not render (raises RenderError)."""
    _compiled(source, html)


def render(source: str, data: Mapping[str, Any], html: bool = False) -> str:
    """The template filled with `data`; missing values render empty; HTML bodies escape what they print."""
    template = _compiled(source, html)
    try:
        return _bounded(template.generate(dict(data)))
    except RenderError:
        raise
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(f"the template failed to render: {exc}") from None


def _bounded(chunks: Iterator[str]) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise RenderError(f"the rendered message is over {MAX_OUTPUT} characters")
        out.append(chunk)
    return "".join(out)
