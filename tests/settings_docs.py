"""What the settings tests share: run `cjproject/settings.py` under a given environment, list the
variables it reads, and read the defaults `.env.example` documents (the README's table must agree)."""

from __future__ import annotations

import re
import runpy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_FILE = ROOT / "cjproject" / "settings.py"
README = ROOT / "README.md"
# The helpers settings.py reads a variable with; each takes the variable's name first.
READERS = re.compile(r"""(?:_bool|_int|_float|_choice|_url|env\.str|env\.list)\(\s*"([A-Z][A-Z0-9_]+)\"""")


def settings_with(monkeypatch: pytest.MonkeyPatch, *, unset: Iterable[str] = (), **environ: str) -> dict[str, Any]:
    """The settings module's names after running it with `environ` set and `unset` removed."""
    for name in unset:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def variables_read() -> set[str]:
    return set(READERS.findall(SETTINGS_FILE.read_text()))


def documented_defaults() -> dict[str, str]:
    """`# NAME=default` lines of `.env.example`."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {m[1]: m[2] for line in lines if (m := re.match(r"^# ([A-Z][A-Z0-9_]+)=(.*)$", line))}
