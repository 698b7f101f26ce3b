"""Reading essays and anchors from folders (.txt, .md, .docx and .pdf), for management commands.

File names never reach a prompt or a log line; they become external ids only where the caller
chooses so (the demo's sample essays have neutral names). A file that cannot be read raises
`InvalidInput` naming the file and why.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from assessments.engine.scales import GradeScale
from cjproject.errors import InvalidInput

TEXT_SUFFIXES = (".txt", ".md")
DOCUMENT_SUFFIXES = (*TEXT_SUFFIXES, ".docx", ".pdf")


@dataclass(frozen=True)
class TextFile:
    path: Path
    text: str


# Text files that are not UTF-8 are read as Windows-1252 (a superset of Latin-1 for letters,
# what Word and Notepad on Windows save): the reader says so, so the grader can check the text.
LEGACY_ENCODING = "cp1252"
LEGACY_ENCODING_NOTE = "was not UTF-8: read as Windows (cp1252 / Latin-1) text; check its accents and quotes"


def _unreadable(path: Path, reason: str) -> InvalidInput:
    return InvalidInput("unreadable file", fields={str(path): [reason]})


def _read_docx(path: Path) -> str:
    import docx  # python-docx, imported here: only .docx inputs need it
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise _unreadable(path, "cannot be opened as a Word .docx document (damaged, or another format renamed .docx?)") from None
    # Paragraphs, then table cells (some templates put the essay in a table); never the
    # document's properties (author, title), which may name the student.
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.extend(cell.text for cell in row.cells)
    return "\n\n".join(p.strip() for p in paragraphs if p.strip())


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        encrypted = reader.is_encrypted
        pages = [] if encrypted else [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError):
        raise _unreadable(path, "cannot be opened as a PDF (damaged, or another format renamed .pdf?)") from None
    if encrypted:
        raise _unreadable(path, "is an encrypted PDF")
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise _unreadable(path, "is a PDF without a text layer (a scan?); give its text as .txt or .docx")
    return text


def read_text_file(path: Path) -> str:
    """The text of a .txt/.md (UTF-8 only: nothing is guessed), .docx or .pdf file; empty or
    unreadable files raise."""
    return read_text_file_noted(path, guess_encoding=False)[0]


def read_text_file_noted(path: Path, *, guess_encoding: bool = True) -> tuple[str, str]:
    """The text of a file and a note on how it was read ("" when nothing was guessed).

    With `guess_encoding`, a .txt/.md file that is not UTF-8 is read as Windows-1252 and the note
    says so; the caller shows the note to the grader before anything is saved.
    """
    suffix = path.suffix.lower()
    note = ""
    if suffix == ".docx":
        text = _read_docx(path)
    elif suffix == ".pdf":
        text = _read_pdf(path)
    else:
        try:
            raw = path.read_bytes()
        except OSError:
            raise _unreadable(path, "cannot be opened") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if not guess_encoding:
                raise _unreadable(path, "is not UTF-8 text: save it as UTF-8") from None
            try:
                text, note = raw.decode(LEGACY_ENCODING), LEGACY_ENCODING_NOTE
            except UnicodeDecodeError:
                raise _unreadable(path, "is not text in UTF-8 or Windows (cp1252) encoding: save it as UTF-8 text") from None
        text = text.removeprefix("\ufeff")  # a byte-order mark Notepad writes is not part of the essay
    if not text.strip():
        raise InvalidInput("empty file", fields={str(path): ["is empty"]})
    return text, note


def document_paths(folder: Path) -> list[Path]:
    """Every .txt/.md/.docx/.pdf file directly in `folder`, sorted by name.

    Hidden files, Word's lock files (`~$...`) and README files are not essays and are skipped.
    """
    if not folder.is_dir():
        raise InvalidInput("missing folder", fields={str(folder): ["is not a folder"]})
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.suffix.lower() in DOCUMENT_SUFFIXES
        and not p.name.startswith((".", "~$"))
        and p.stem.upper() != "README"
    )


def read_text_folder(folder: Path) -> list[TextFile]:
    """Every essay file of `folder` (see `document_paths`) with its text; an empty folder is an error."""
    paths = document_paths(folder)
    if not paths:
        raise InvalidInput("empty folder", fields={str(folder): [f"holds no {'/'.join(DOCUMENT_SUFFIXES)} file"]})
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
    except OSError:
        raise InvalidInput("unreadable file", fields={str(path): ["cannot be opened"]}) from None
    except UnicodeDecodeError:
        raise InvalidInput("unreadable file", fields={str(path): ["is not UTF-8 text: save the CSV as UTF-8"]}) from None


def grade_from_file_name(stem: str, scale: GradeScale) -> str | None:
    """The grade a file name starts with, or None: `A.txt`, `C+2.md`, `B_essay.docx`, `a (2).txt`.

    The longest grade label of the scale that the name starts with (case ignored) wins, if
    nothing, a digit or a separator (`_`, space, `.`, `(`, or `-` before a letter) follows it: so
    `E-2` is E- on a scale that has E-, `Essay` is no grade, and `C+2`, `C-` and `C-2` are none on
    a scale without C+ or C- (never silently C: see `unknown_grade_in_file_name`).
    """
    name = stem.strip()
    for label in sorted(scale.grades, key=len, reverse=True):
        if not name.casefold().startswith(label.casefold()):
            continue
        rest = name[len(label) :]
        if rest[:1] == "-" and (len(rest) == 1 or rest[1].isdigit() or rest[1] in "_ .(+-"):
            continue  # "C-", "C-2": a minus grade, not C followed by a separator
        if not rest or rest[0].isdigit() or rest[0] in "_- .(":
            return label
    return None


def unknown_grade_in_file_name(stem: str, scale: GradeScale) -> str | None:
    """A grade with a + or - the scale does not have, at the start of a name (`C-` of `C-.txt` on
    A–F), or None: what to name when `grade_from_file_name` found no grade."""
    match = re.match(r"\s*([A-Za-z0-9]{1,2}[+-])(?=$|[\d_ .(+-])", stem)
    if match is None or grade_from_file_name(stem, scale) is not None:
        return None
    base = match.group(1)[:-1]
    if any(base.casefold() == grade.casefold() for grade in scale.grades):
        return match.group(1)
    return None
