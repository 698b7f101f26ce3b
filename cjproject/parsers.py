"""The API's JSON parser: bodies the database and the renderer can hold (no NUL character, no lone
surrogate, no NaN or infinity), refused in the one error shape before any view sees them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (a lone surrogate such as \\ud800 is not)"
    return None


def _bad_values(value: Any, path: str, found: dict[str, list[str]]) -> None:
    """Every string (key or value) PostgreSQL would refuse and every non-finite number, by dotted path.

    The messages never quote the value: an essay's text stays out of responses and logs."""
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if problem := _text_problem(str(key)):
                found.setdefault(path or "__root__", []).append(f"a key {problem}")
                continue
            _bad_values(item, name, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _bad_values(item, f"{path}.{index}" if path else str(index), found)
    elif isinstance(value, str):
        if problem := _text_problem(value):
            found.setdefault(path or "__root__", []).append(problem)
    elif isinstance(value, float) and not math.isfinite(value):
        found.setdefault(path or "__root__", []).append("must be a finite number")


class StrictJSONParser(JSONParser):
    """JSON bodies the database and the renderer can hold: no NUL character, no lone surrogate, no
    NaN or infinity (`1e999` parses to infinity). Refused with a 400 naming each field, before any
    view, service or log line sees the text."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        found: dict[str, list[str]] = {}
        _bad_values(data, "", found)
        if found:
            raise exceptions.ValidationError(found)  # the one error shape: code `invalid`, each field named
        return data
