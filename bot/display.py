"""Showing stored, typed and portal text to a person: literally, never as markup or terminal codes.

Account e-mails, comments, evidence file names, outcome notes, error messages, portal text and
paths can hold anything: `[/x]` (Rich markup: a crash), `[link=…]…` (a hidden link), `:smile:`
(an emoji code), ESC sequences or a carriage return (terminal injection: colours, a moved
cursor, an overwritten line), or bidi overrides (text shown in another order than stored).

Everything the command line and the demo print for a person is built here: :func:`shown` for
one value (a Rich ``Text``, which Rich never parses as markup or emoji), :func:`line` for a line
of constant words and values. Rich markup strings are never built from such text. Control
characters (other than newline and tab), bidi embedding/override/isolate characters and the
Unicode line/paragraph separators are shown as visible escapes (``\\x1b``, ``\\u202e``), so the
operator sees that they are there and the terminal never acts on them. JSON output is left to
``json.dumps`` (it escapes control characters itself).
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

_KEPT = frozenset("\n\t")
"""Control characters a person's text may keep (multi-line messages)."""

_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")
"""Bidi embeddings, overrides and isolates, and the line/paragraph separators."""


def _visible(char: str) -> str:
    if char in _KEPT:
        return char
    if char in _REORDERING or unicodedata.category(char) == "Cc":
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def printable(value: object) -> str:
    """`value` as text whose control, bidi and separator characters are shown as escapes
    (``\\x1b``, ``\\u202e``); every other character, markup brackets included, is kept."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(_visible(char) for char in text)


def shown(value: object, style: str = "") -> Text:
    """`value` as a Rich ``Text`` that prints exactly :func:`printable` (never markup), in `style`."""
    return Text(printable(value), style=style)


def line(*parts: object) -> Text:
    """One printed line from `parts`: a ``Text`` (from :func:`shown`) keeps its style, anything
    else is shown literally."""
    result = Text()
    for part in parts:
        result.append_text(part if isinstance(part, Text) else shown(part))
    return result
