"""Reading essays and anchors from folders (.txt and .md), for management commands.

File names never reach a prompt or a log line; they become external ids only where the caller
chooses so (the demo's sample essays have neutral names).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from cjproject.errors import InvalidInput

TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class TextFile:
    path: Path
    text: str


def read_text_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "unreadable file", fields={str(path): [f"cannot be read as UTF-8 text: {type(exc).__name__}"]}
        ) from None
    if not text.strip():
        raise InvalidInput("empty file", fields={str(path): ["is empty"]})
    return text


def read_text_folder(folder: Path) -> list[TextFile]:
    """Every .txt/.md file directly in `folder`, sorted by name; an empty folder is an error."""
    if not folder.is_dir():
        raise InvalidInput("missing folder", fields={str(folder): ["is not a folder"]})
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not paths:
        raise InvalidInput("empty folder", fields={str(folder): [f"holds no {'/'.join(TEXT_SUFFIXES)} file"]})
    return [TextFile(path=p, text=read_text_file(p)) for p in paths]


def read_grades_csv(path: Path) -> dict[str, str]:
    """A `file,grade` CSV: file name → grade."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"file", "grade"} <= set(reader.fieldnames):
                raise InvalidInput("bad grades file", fields={str(path): ["needs a header with columns file,grade"]})
            grades: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                name, grade = (row.get("file") or "").strip(), (row.get("grade") or "").strip()
                if not name or not grade:
                    raise InvalidInput("bad grades file", fields={f"{path}:{line}": ["file and grade must both be given"]})
                grades[name] = grade
            return grades
    except OSError as exc:
        raise InvalidInput("unreadable file", fields={str(path): [type(exc).__name__]}) from None
