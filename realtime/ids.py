"""The one parser of identifiers: stream names and the ids in requests.

Strict and total: every input, whatever its type, is either a valid id or None
(the ops turn None into bad_request). An id is a positive integer up to 2^53 - 1,
so it survives a JavaScript number; written in a stream name it is ASCII digits
only: no sign, no leading zero, no spaces, no other script's digits ("١٢",
"²" and the fullwidth digits are digits to str.isdigit; int() reads some).
"""

from __future__ import annotations

from typing import Any

MAX_ID = 2**53 - 1
MAX_ID_DIGITS = len(str(MAX_ID))
_ASCII_DIGITS = frozenset("0123456789")
MAX_KIND_CHARS = 32  # kinds are short lowercase names: "room", "roundtable"


def parse_id(text: str) -> int | None:
    """The id written as `text`, or None."""
    if not 0 < len(text) <= MAX_ID_DIGITS or text[0] == "0" or not _ASCII_DIGITS.issuperset(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def id_value(value: Any) -> int | None:
    """`value` if it is an id (an integer, not a boolean, 1 to MAX_ID), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return value


def parse_stream(name: Any) -> tuple[str, int] | None:
    """A stream name's kind and id ("room:12" → ("room", 12)), or None. Says nothing
    about whether the kind is registered."""
    if not isinstance(name, str):
        return None
    kind, colon, ident = name.partition(":")
    if not colon or not 0 < len(kind) <= MAX_KIND_CHARS:
        return None
    if not (kind.isascii() and kind.isalpha() and kind.islower()):
        return None
    value = parse_id(ident)
    return None if value is None else (kind, value)
