"""The inputs of an ENG5 run, read and validated: anchors, student essays, task and instructions.

Every essay gets an opaque id, a hash of its text (`a-` anchors, `s-` students), the same in every
run. File names stay here and in the artefact's input list: they never reach a prompt, the
database or a log line. All problems are gathered and raised together, each naming its file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from assessments.engine.scales import GradeScale, UnknownGradeError, get_scale
from assessments.files import document_paths, grade_from_file_name, read_grades_csv, read_text_file
from cjproject.errors import InvalidInput
from llmgateway.prompts import estimate_tokens

SAMPLE_DIR = Path(settings.BASE_DIR) / "samples" / "eng5_role_models"
GRADES_CSV_NAME = "anchor_grades.csv"
DEFAULT_GRADE_SCALE = "eng5_np_legacy_9_step"
_WORD = re.compile(r"\w+", re.UNICODE)
# A grade followed by a copy number: "C+2", "B_2", "A (2)".


@dataclass(frozen=True)
class Sources:
    """Where the inputs come from. Without any input option the shipped sample is used."""

    anchors: Path | None = None
    essays: Path | None = None
    prompt: Path | None = None
    instructions: Path | None = None
    rubric: Path | None = None
    system_prompt: Path | None = None
    anchor_grades: Path | None = None
    grade_scale: str = DEFAULT_GRADE_SCALE
    assignment_id: int | None = None

    def resolved(self, *, needs_essays: bool) -> Sources:
        """Fill in the sample when no input was named; otherwise every required input must be."""
        given = [self.anchors, self.essays, self.prompt, self.instructions, self.assignment_id]
        if all(value is None for value in given):
            return Sources(
                anchors=SAMPLE_DIR / "anchors",
                essays=SAMPLE_DIR / "essays",
                prompt=SAMPLE_DIR / "instructions.md",
                instructions=SAMPLE_DIR / "rubric.md",
                rubric=self.rubric,
                system_prompt=self.system_prompt,
                anchor_grades=self.anchor_grades,
                grade_scale=self.grade_scale,
            )
        missing: dict[str, list[str]] = {}
        if self.assignment_id is not None:
            for option, value in (("--anchors", self.anchors), ("--prompt", self.prompt), ("--instructions", self.instructions)):
                if value is not None:
                    missing[option] = ["give either --assignment-id (its anchors, task and instructions) or this, not both"]
        else:
            for option, value in (("--anchors", self.anchors), ("--prompt", self.prompt), ("--instructions", self.instructions)):
                if value is None:
                    missing[option] = ["is required once any input is named (the sample is used only when none is)"]
        if needs_essays and self.essays is None:
            missing["--essays"] = ["is required once any input is named (the sample is used only when none is)"]
        if missing:
            raise InvalidInput("incomplete inputs", fields=missing)
        return self


@dataclass(frozen=True)
class InputDocument:
    """One essay (anchor or student) as the run sees it."""

    id: str
    role: str  # "anchor" or "student"
    file: str  # its name in its folder (or the assignment's anchor label): never in a prompt or a log
    format: str
    file_sha256: str
    text_sha256: str  # sha256 of the text as stored (what services store)
    text: str
    words: int
    tokens: int
    grade: str | None = None
    grade_source: str = ""  # "csv", "file_name" or "assignment"


@dataclass(frozen=True)
class TextInput:
    """A task, instructions, rubric or system prompt file."""

    role: str
    file: str
    sha256: str
    text: str


@dataclass
class Inventory:
    scale: GradeScale
    anchors: list[InputDocument]
    essays: list[InputDocument]
    prompt: TextInput
    instructions: TextInput
    rubric: TextInput | None = None
    system_prompt: TextInput | None = None
    anchor_grades: TextInput | None = None
    assignment_id: int | None = None
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def by_text_sha256(self) -> dict[str, InputDocument]:
        return {doc.text_sha256: doc for doc in (*self.anchors, *self.essays)}


def opaque_id(role: str, text: str) -> str:
    """`a-`/`s-` and 12 hex digits of sha256 of the text with whitespace normalised."""
    normalised = " ".join(text.split())
    return ("a-" if role == "anchor" else "s-") + hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:12]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Problems:
    """Problems gathered over the whole inventory, raised together (each names its file)."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.fields: dict[str, list[str]] = {}

    def add(self, kind: str, where: str, message: str) -> None:
        if kind not in self.kinds:
            self.kinds.append(kind)
        self.fields.setdefault(where, []).append(message)

    def absorb(self, exc: InvalidInput) -> None:
        for where, messages in exc.fields.items():
            for message in messages:
                self.add(exc.message, where, message)

    def raise_if_any(self) -> None:
        if self.kinds:
            raise InvalidInput(f"invalid inputs: {', '.join(self.kinds)}", fields=self.fields)


def inventory_collect(sources: Sources, *, include_essays: bool = True) -> Inventory:
    """Read and check every input; raise one `InvalidInput` listing every problem found.

    1. The scale, the task (`--prompt`), the judge's instructions, optional rubric and system
       prompt (or an assignment's task, instructions, scale and anchors).
    2. Anchors: each file's text and grade (the grades CSV first, else the file name).
    3. Student essays (not in anchor-align mode).
    4. Duplicates: two files with one name (`essay_01.txt` and `essay_01.docx`: duplicate ids)
       and two files with one text (duplicate texts), anchors and students together.
    """
    sources = sources.resolved(needs_essays=include_essays)
    problems = _Problems()
    ignored: list[str] = []
    warnings: list[str] = []
    prompt: TextInput | None
    instructions: TextInput | None
    if sources.assignment_id is not None:
        scale, prompt, instructions, anchors = _from_assignment(sources.assignment_id)
        grades_file = None
    else:
        try:
            scale = get_scale(sources.grade_scale)
        except UnknownGradeError as exc:
            raise InvalidInput("invalid inputs: unknown grade scale", fields={"--grade-scale": [str(exc)]}) from None
        prompt = _text_input("prompt", sources.prompt, problems)
        instructions = _text_input("instructions", sources.instructions, problems)
        anchors, grades_file = _read_anchors(sources, scale, problems, ignored, warnings)
    rubric = _text_input("rubric", sources.rubric, problems) if sources.rubric else None
    system_prompt = _text_input("system prompt", sources.system_prompt, problems) if sources.system_prompt else None
    essays = _read_folder(sources.essays, "student", problems, ignored) if include_essays and sources.essays else []
    _check_duplicates([*anchors, *essays], problems)
    problems.raise_if_any()
    assert prompt is not None and instructions is not None
    if len({a.grade for a in anchors}) < 2:
        warnings.append("fewer than two distinct anchor grades: grades cannot be projected and τ is undefined")
    return Inventory(
        scale=scale,
        anchors=anchors,
        essays=essays,
        prompt=prompt,
        instructions=instructions,
        rubric=rubric,
        system_prompt=system_prompt,
        anchor_grades=grades_file,
        assignment_id=sources.assignment_id,
        ignored=ignored,
        warnings=warnings,
    )


def _text_input(role: str, path: Path | None, problems: _Problems) -> TextInput | None:
    if path is None:
        return None
    try:
        text = read_text_file(path)
        return TextInput(role=role, file=path.name, sha256=_sha256(path.read_bytes()), text=text)
    except InvalidInput as exc:
        problems.absorb(exc)
    except OSError as exc:
        problems.add("unreadable file", str(path), type(exc).__name__)
    return None


def _read_folder(folder: Path, role: str, problems: _Problems, ignored: list[str]) -> list[InputDocument]:
    try:
        paths = document_paths(folder)
    except InvalidInput as exc:
        problems.absorb(exc)
        return []
    ignored.extend(str(p) for p in sorted(folder.iterdir()) if p.is_file() and p not in paths and p.name != GRADES_CSV_NAME)
    if not paths:
        problems.add("empty folder", str(folder), "holds no .txt, .md, .docx or .pdf file")
        return []
    documents = []
    for path in paths:
        try:
            text = read_text_file(path)
            raw = path.read_bytes()
        except InvalidInput as exc:
            problems.absorb(exc)
            continue
        except OSError as exc:
            problems.add("unreadable file", str(path), type(exc).__name__)
            continue
        documents.append(
            InputDocument(
                id=opaque_id(role, text),
                role=role,
                file=path.name,
                format=path.suffix.lower().lstrip("."),
                file_sha256=_sha256(raw),
                text_sha256=_sha256(text.encode("utf-8")),
                text=text,
                words=len(_WORD.findall(text)),
                tokens=estimate_tokens(text),
            )
        )
    return documents


def _read_anchors(
    sources: Sources, scale: GradeScale, problems: _Problems, ignored: list[str], warnings: list[str]
) -> tuple[list[InputDocument], TextInput | None]:
    assert sources.anchors is not None
    documents = _read_folder(sources.anchors, "anchor", problems, ignored)
    csv_path = sources.anchor_grades
    if csv_path is None and (sources.anchors / GRADES_CSV_NAME).is_file():
        csv_path = sources.anchors / GRADES_CSV_NAME
    grades: dict[str, str] = {}
    grades_file = None
    if csv_path is not None:
        try:
            grades = read_grades_csv(csv_path)
            grades_file = TextInput(role="anchor grades", file=csv_path.name, sha256=_sha256(csv_path.read_bytes()), text="")
        except InvalidInput as exc:
            problems.absorb(exc)
        except OSError as exc:
            problems.add("unreadable file", str(csv_path), type(exc).__name__)
    by_stem = {Path(name).stem: grade for name, grade in grades.items()}
    graded = []
    for doc in documents:
        where = str(sources.anchors / doc.file)
        grade, source = grades.get(doc.file) or by_stem.get(Path(doc.file).stem), "csv"
        if grade is None:
            grade, source = grade_from_file_name(Path(doc.file).stem, scale), "file_name"
        if grade is None:
            problems.add(
                "unknown grade",
                where,
                f"no grade: not listed in {csv_path.name if csv_path else 'a grades CSV (--anchor-grades)'} and the file "
                f"name is not a grade of {scale.name} ({', '.join(scale.grades)}), e.g. C+.docx or B2.txt",
            )
            continue
        try:
            scale.validate(grade)
        except UnknownGradeError as exc:
            problems.add("unknown grade", where, str(exc))
            continue
        graded.append(_with_grade(doc, grade, source))
    stems = {Path(doc.file).stem for doc in documents}
    listed = {name for name in grades if Path(name).stem not in stems}
    if listed:
        warnings.append(f"{len(listed)} file(s) in the grades CSV not found among the anchors: {', '.join(sorted(listed))}")
    return graded, grades_file


def _with_grade(doc: InputDocument, grade: str, source: str) -> InputDocument:
    return dataclasses.replace(doc, grade=grade, grade_source=source)


def _from_assignment(assignment_id: int) -> tuple[GradeScale, TextInput, TextInput, list[InputDocument]]:
    from assessments.models import Assignment

    assignment = Assignment.objects.filter(pk=assignment_id).first()
    if assignment is None:
        raise InvalidInput("invalid inputs: unknown assignment", fields={"--assignment-id": [f"no assignment {assignment_id}"]})
    anchors = [
        InputDocument(
            id=opaque_id("anchor", a.text),
            role="anchor",
            file=f"assignment {assignment_id} anchor {a.label}",
            format="db",
            file_sha256=a.text_sha256,
            text_sha256=a.text_sha256,
            text=a.text,
            words=len(_WORD.findall(a.text)),
            tokens=estimate_tokens(a.text),
            grade=a.grade,
            grade_source="assignment",
        )
        for a in assignment.anchors.order_by("label")
    ]
    if not anchors:
        raise InvalidInput(
            "invalid inputs: no anchors", fields={"--assignment-id": [f"assignment {assignment_id} has no anchors"]}
        )

    def text_input(role: str, text: str) -> TextInput:
        return TextInput(role=role, file=f"assignment {assignment_id}", sha256=_sha256(text.encode("utf-8")), text=text)

    return (
        assignment.scale,
        text_input("prompt", assignment.student_prompt),
        text_input("instructions", assignment.instructions),
        anchors,
    )


def _check_duplicates(documents: list[InputDocument], problems: _Problems) -> None:
    by_name: dict[tuple[str, str], list[InputDocument]] = {}
    by_id: dict[str, list[InputDocument]] = {}
    for doc in documents:
        by_name.setdefault((doc.role, Path(doc.file).stem.casefold()), []).append(doc)
        by_id.setdefault(doc.id[2:], []).append(doc)
    for (role, stem), docs in by_name.items():
        if len(docs) > 1:
            files = ", ".join(d.file for d in docs)
            problems.add("duplicate ids", f"{role} {stem}", f"one essay name in {len(docs)} files ({files}); keep one")
    for docs in by_id.values():
        if len(docs) > 1:
            files = ", ".join(f"{d.role} {d.file}" for d in docs)
            problems.add("duplicate texts", docs[0].id[2:], f"the same text in {len(docs)} files ({files}); keep one")
