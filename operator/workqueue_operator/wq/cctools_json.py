"""JSON as CCTools writes it: tolerate its ``\\'`` escapes, decode objects from a stream."""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()


def repair(text: str) -> str:
    """CCTools escapes ``'`` as ``\\'`` (e.g. in task commands), which JSON does not allow."""
    return text.replace("\\'", "'")


def loads(text: str) -> Any:
    """``json.loads`` after ``repair``; raises ``json.JSONDecodeError``."""
    return json.loads(repair(text))


def decode_prefix(text: str, start: int = 0) -> tuple[Any, int]:
    """Decode one JSON value at ``text[start:]`` (after whitespace); return it and its end.

    ``text`` must already be repaired. Raises ``json.JSONDecodeError``.
    """
    length = len(text)
    while start < length and text[start].isspace():
        start += 1
    value, end = _DECODER.raw_decode(text, start)
    return value, end
