"""Regular expressions that tenants and resellers supply, run on RE2: linear time in the input, whatever the pattern.

KAZOO's patterns are PCRE. RE2 reads the same syntax, named groups `(?<name>...)` included, except for what needs
backtracking (backreferences, lookaround, atomic groups, possessive repeats): those are refused when saved, with the
reason. `\\Z` is read as `\\z` (they differ only before a final newline, which no dialled number has).

Many patterns are matched together by `PatternSet`: slices of them in one `re2.Set` each, one pass over the text
per slice, and the loop handed back between slices, so no account's patterns hold the loop for long.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import re2
from re2 import _re2

MAX_LENGTH = 1_024  # characters in one pattern
MAX_PROGRAM = 1_000  # RE2 instructions one pattern may compile to (`\d{10}` is 10; a dial plan rule a few dozen)
SET_PROGRAM = 5_000  # instructions per re2.Set slice: about a millisecond to compile, microseconds to match
SLICE_S = 0.001  # CPU time run before handing the loop back
_PATTERN_MEM = 1 << 20  # RE2's memory budget per pattern (program and DFA cache; past it RE2 falls back to the NFA)
_SET_MEM = 8 << 20  # per Set slice: the program of SET_PROGRAM instructions and room for many DFA states

_REFUSED = (  # RE2's complaint → what the author wrote, in PCRE's words
    ("invalid perl operator: (?=", "lookahead (?=...)"),
    ("invalid perl operator: (?!", "negative lookahead (?!...)"),
    ("invalid perl operator: (?<=", "lookbehind (?<=...)"),
    ("invalid perl operator: (?<!", "negative lookbehind (?<!...)"),
    ("invalid perl operator: (?>", "an atomic group (?>...)"),
    ("invalid perl operator: (?P", "a backreference or recursion (?P=name), (?P>name)"),
    ("invalid perl operator: (?&", "recursion (?&name)"),
    ("invalid perl operator: (?R", "recursion (?R)"),
    ("bad repetition operator: *+", "a possessive repeat"),
    ("bad repetition operator: ++", "a possessive repeat"),
    ("bad repetition operator: ?+", "a possessive repeat"),
    ("invalid escape sequence: \\k", "a backreference (\\k)"),
    ("invalid escape sequence: \\g", "a backreference (\\g)"),
)


class PatternError(ValueError):
    """A pattern that is refused: its message says why, for the client."""


def _options(max_mem: int) -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = max_mem
    return options


_OPTIONS = _options(_PATTERN_MEM)


def _pcre_to_re2(pattern: str) -> str:
    """`\\Z` becomes `\\z`; everything else is RE2's own syntax."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append("\\z" if pair == "\\Z" else pair)
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _reason(error: bytes) -> str:
    detail = error.decode(errors="replace")
    for start, what in _REFUSED:
        if detail.startswith(start):
            return f"{what} needs backtracking, which patterns may not use ({detail})"
    if detail.startswith("invalid escape sequence: \\") and detail[-1:].isdigit():
        return f"a backreference needs backtracking, which patterns may not use ({detail})"
    if "pattern too large" in detail:
        return "pattern too large"
    return detail


def _program(pattern: object) -> int:
    """The size of the RE2 program of a pattern, or PatternError: the check behind `compile` and `problem`.

    It uses the binding's RE2 object directly: a fifth of the cost of `re2.compile`, whose Python wrapper is
    only needed to search with captures.
    """
    if not isinstance(pattern, str):
        raise PatternError("a pattern must be a string")
    if len(pattern) > MAX_LENGTH:
        raise PatternError(f"Regular expression too long: {len(pattern)} characters, at most {MAX_LENGTH}")
    program = _re2.RE2(_pcre_to_re2(pattern).encode(), _OPTIONS)
    if not program.ok():
        raise PatternError(f"Invalid regular expression: {_reason(program.error())}")
    size = program.ProgramSize()
    if size > MAX_PROGRAM:
        raise PatternError(f"Regular expression too complex: {size} instructions, at most {MAX_PROGRAM}")
    return size


def compile(pattern: str):
    """The compiled pattern (an `re2` regexp with `search`, `match`, `groups`), or PatternError."""
    _program(pattern)
    return re2.compile(_pcre_to_re2(pattern), _OPTIONS)


@lru_cache(maxsize=1024)
def cached(pattern: str):
    """`compile` for the few patterns used everywhere (number classifiers), kept compiled."""
    return compile(pattern)


def problem(pattern: object) -> str | None:
    """Why a pattern is refused, or None when it is fine."""
    try:
        _program(pattern)
    except PatternError as exc:
        return str(exc)
    return None


class Pacer:
    """Hands the loop back whenever SLICE_S of CPU has run since it last did."""

    def __init__(self):
        self.since = time.perf_counter()

    async def pause(self) -> None:
        if time.perf_counter() - self.since >= SLICE_S:
            await asyncio.sleep(0)
            self.since = time.perf_counter()


@dataclass(frozen=True)
class _Slice:
    indices: list[int]  # position in the whole list of each pattern in the Set, by Set index
    matcher: re2.Set


class Match(Protocol):
    """What callers read of a match (re2's match objects are untyped)."""

    def group(self, index: int = 0, /) -> str: ...

    def groups(self) -> tuple[str | None, ...]: ...

    def groupdict(self) -> dict[str, str | None]: ...


class PatternSet:
    """Patterns matched together: which of them match a text, in their order, with each one's match."""

    def __init__(self, patterns: list[str | None], slices: list[_Slice]):
        self.patterns = patterns  # in RE2's syntax; None where a pattern is refused
        self.slices = slices
        self._compiled: dict[int, object] = {}  # index → regexp with captures, made when the pattern first matches

    @classmethod
    async def build(cls, patterns: list[str]) -> PatternSet:
        """Check and group the patterns, pausing between pieces of work; refused ones are left out (None)."""
        pacer = Pacer()
        kept: list[str | None] = []
        slices: list[_Slice] = []
        pending: list[int] = []
        size = 0
        for index, pattern in enumerate(patterns):
            try:
                program = _program(pattern)
            except PatternError:
                kept.append(None)
                continue
            kept.append(_pcre_to_re2(pattern))
            if size + program > SET_PROGRAM and pending:
                slices.append(await cls._slice(kept, pending, pacer))
                pending, size = [], 0
            pending.append(index)
            size += program
            await pacer.pause()
        if pending:
            slices.append(await cls._slice(kept, pending, pacer))
        return cls(kept, slices)

    @staticmethod
    async def _slice(patterns: list[str | None], indices: list[int], pacer: Pacer) -> _Slice:
        matcher = re2.Set.SearchSet(_options(_SET_MEM))
        for index in indices:
            matcher.Add(patterns[index])
        matcher.Compile()
        await pacer.pause()
        return _Slice(indices, matcher)

    def __len__(self) -> int:
        return len(self.patterns)

    def refused(self) -> int:
        return sum(pattern is None for pattern in self.patterns)

    def _regex(self, index: int):
        regex = self._compiled.get(index)
        if regex is None:
            regex = self._compiled[index] = re2.compile(self.patterns[index], _OPTIONS)
        return regex

    def hits(self, text: str) -> list[int]:
        """Indices of the patterns that match somewhere in `text`, in no order: one pass per slice, no captures.
        For the few patterns of a carrier pool, whose decisions run without handing the loop back."""
        return [piece.indices[hit] for piece in self.slices for hit in piece.matcher.Match(text) or ()]

    def captures(self, index: int, text: str) -> tuple[str, ...] | None:
        """The whole match and each group of one pattern ('' for a group that took no part), or None. ASCII text
        (dialled numbers) runs the binding's program directly, a third of the cost of its Python `search`."""
        regexp = self._regex(index)
        if not text.isascii():
            match = regexp.search(text)
            return None if match is None else (match.group(0), *(group or "" for group in match.groups()))
        spans = regexp._regexp.Match(re2._Anchor.UNANCHORED, text.encode(), 0, len(text))
        if spans[0][0] < 0:
            return None
        return tuple(text[start:end] if start >= 0 else "" for start, end in spans)

    async def matches(self, text: str) -> list[tuple[int, Match]]:
        """(index, match) of every pattern that matches somewhere in `text`, in pattern order."""
        pacer = Pacer()
        found: list[tuple[int, Match]] = []
        for piece in self.slices:
            for index in sorted(piece.indices[hit] for hit in piece.matcher.Match(text) or ()):
                match = self._regex(index).search(text)
                if match is not None:
                    found.append((index, match))
                await pacer.pause()
            await pacer.pause()
        return found
