"""Errors users see: what was wrong, which field, what is allowed. Shared by every app."""

from __future__ import annotations

from pydantic import ValidationError


class InvalidInput(ValueError):
    """Bad input to a service. `fields` maps a dotted field path to its messages."""

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        self.fields = fields or {}
        detail = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.fields.items())
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message


class Conflict(InvalidInput):
    """A request that is valid but clashes with the current state (a finished batch, an assignment in use)."""


def fields_from_pydantic(exc: ValidationError) -> dict[str, list[str]]:
    """Turn pydantic's errors into {"essays.2.id": ["String should have at least 1 character"]}."""
    fields: dict[str, list[str]] = {}
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "__root__"
        message = error["msg"].removeprefix("Value error, ")
        fields.setdefault(path, []).append(message)
    return fields


def invalid_from_pydantic(exc: ValidationError, what: str) -> InvalidInput:
    return InvalidInput(f"invalid {what}", fields=fields_from_pydantic(exc))
