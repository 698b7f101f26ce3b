"""Forms of the graders' admin: assignments and anchors (typed or uploaded), a new batch, a continuation.

Uploaded files are read by `assessments.files` (the same reader as the management commands:
.txt, .md, .docx, .pdf): each upload is written to a private temporary folder under a neutral
name and read from there; errors name the file as the grader called it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from assessments.engine.scales import BUILTIN_SCALES, CUSTOM_SCALE, UnknownGradeError, get_scale
from assessments.files import (
    DOCUMENT_SUFFIXES,
    grade_from_file_name,
    read_grades_csv,
    read_text_file_noted,
    unknown_grade_in_file_name,
)
from assessments.models import AnchorEssay, Assignment, ContextOrigin, JudgeMode
from assessments.schemas import ANCHOR_ID_PREFIX, ESSAY_TEXT_MAX_CHARS
from assessments.selectors.judges import default_judge, judge_choices
from cjproject.errors import InvalidInput
from llmgateway.manifest import manifest
from llmgateway.providers import provider_configured

MAX_UPLOAD_FILES = 500
PROVIDER_WORDS = {
    "anthropic": "Anthropic's models (Claude)",
    "openai": "OpenAI's models (GPT)",
    "openai_compatible": "models on a self-hosted server",
}
PASTE_SEPARATOR = re.compile(r"^\s*-{3,}\s*$", re.M)


@dataclass(frozen=True)
class UploadedText:
    name: str  # the file name as uploaded (never sent to a judge)
    stem: str
    text: str
    note: str = ""  # how the text was read when something was guessed (an encoding), for the grader to check


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input; `read_uploads` checks each one (suffix and content) and names every bad one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(DOCUMENT_SUFFIXES)}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if not files:
            if self.required:
                raise forms.ValidationError("Choose at least one file.")
            return []
        if len(files) > MAX_UPLOAD_FILES:
            raise forms.ValidationError(f"At most {MAX_UPLOAD_FILES} files at once; you chose {len(files)}.")
        return list(files)


def read_uploads(uploads: Iterable[UploadedFile]) -> list[UploadedText]:
    """The text of each uploaded file, in upload order; raises InvalidInput naming every bad file
    and what is wrong with each (a wrong format, an unreadable or empty file), all at once."""
    texts: list[UploadedText] = []
    errors: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="cj-upload-") as folder:
        for number, upload in enumerate(uploads):
            name = PurePath(str(upload.name)).name
            if PurePath(name).suffix.lower() not in DOCUMENT_SUFFIXES:
                errors[name] = [f"is not a {', '.join(DOCUMENT_SUFFIXES)} file: save it in one of those formats"]
                continue
            path = Path(folder) / f"upload-{number}{PurePath(name).suffix.lower()}"
            with path.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            try:
                text, note = read_text_file_noted(path)
                texts.append(UploadedText(name=name, stem=PurePath(name).stem.strip(), text=text, note=note))
            except InvalidInput as exc:
                errors[name] = [message for messages in exc.fields.values() for message in messages] or [exc.message]
    if errors:
        raise InvalidInput("unreadable files", fields=errors)
    return texts


def read_grades_upload(upload: UploadedFile) -> dict[str, str]:
    """A `file,grade` CSV uploaded beside anchor files: file name → grade."""
    with tempfile.TemporaryDirectory(prefix="cj-upload-") as folder:
        path = Path(folder) / "grades.csv"
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            return read_grades_csv(path)
        except InvalidInput as exc:
            raise InvalidInput(
                "bad grades file", fields={str(upload.name): [m for messages in exc.fields.values() for m in messages]}
            ) from None


def split_pasted(text: str) -> list[str]:
    """Essays pasted one after another, separated by a line of three or more dashes."""
    return [part.strip() for part in PASTE_SEPARATOR.split(text) if part.strip()]


# --- Assignments -------------------------------------------------------------------------------


class AssignmentForm(forms.ModelForm):
    custom_grades_text = forms.CharField(
        label="Custom grades",
        required=False,
        help_text="Only for the custom scale: the grades from lowest to highest, separated by commas (e.g. 1, 2, 3, 4).",
    )

    class Meta:
        model = Assignment
        fields = ("title", "student_prompt", "instructions", "grade_scale", "context_origin")
        labels = {
            "student_prompt": "Student prompt",
            "instructions": "Rubric and instructions for the judge",
            "context_origin": "May a batch change the prompt and rubric?",
        }
        help_texts = {
            "grade_scale": "The grades, lowest first. It cannot be changed once the assignment has anchors or batches.",
            "context_origin": (
                "Batches made here always use this prompt and rubric as written; “No” also refuses other wordings "
                "from research runs through the API."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "grade_scale" in self.fields:
            self.fields["grade_scale"].choices = scale_choices()  # type: ignore[attr-defined]  # a ChoiceField
        if "context_origin" in self.fields:
            self.fields["context_origin"].choices = CONTEXT_ORIGIN_WORDS  # type: ignore[attr-defined]
        if self.instance.pk and self.instance.custom_grades:
            self.fields["custom_grades_text"].initial = ", ".join(self.instance.custom_grades)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        scale_name = data.get("grade_scale") or self.instance.grade_scale
        grades = [g.strip() for g in (data.get("custom_grades_text") or "").split(",") if g.strip()]
        if scale_name != CUSTOM_SCALE and grades:
            self.add_error("custom_grades_text", "Leave this empty unless the grade scale is custom.")
        try:
            get_scale(scale_name, grades)
        except UnknownGradeError as exc:
            self.add_error("custom_grades_text" if scale_name == CUSTOM_SCALE else "grade_scale", str(exc))
        data["custom_grades"] = grades if scale_name == CUSTOM_SCALE else []
        return data


SCALE_WORDS = {
    "swedish_a_f": "Swedish A–F",
    "swedish_8_anchor": "Swedish A–F with D+ and C+",
    "eng5_np_legacy_9_step": "English 5 national test, 9 steps (older)",
    "eng5_np_national_9_step": "English 5 national test, 1–9",
}
CONTEXT_ORIGIN_WORDS = [
    (ContextOrigin.RESEARCH.value, "Yes: a research run (through the API) may try another prompt or rubric"),
    (ContextOrigin.CANONICAL.value, "No: every batch uses this prompt and rubric as written"),
]


def scale_choices() -> list[tuple[str, str]]:
    """The grade-scale menu: each scale's name in words and its grades, lowest first."""
    choices = [(name, f"{SCALE_WORDS.get(name, name)}: {', '.join(scale.grades)}") for name, scale in BUILTIN_SCALES.items()]
    return [*choices, (CUSTOM_SCALE, "Your own grades (type them below, lowest first)")]


class AnchorInlineFormSet(forms.BaseInlineFormSet):
    """Checks each new anchor's grade against the assignment's scale (the one being saved); once
    the assignment is saved, the grade is picked from its scale."""

    def add_fields(self, form: forms.ModelForm, index: int | None) -> None:
        super().add_fields(form, index)
        if self.instance.pk is None:
            form.fields["grade"].help_text = "A grade of the scale chosen above."
            return
        try:
            grades = self.instance.scale.grades
        except UnknownGradeError:
            return
        form.fields["grade"] = forms.ChoiceField(
            choices=[("", "---------"), *((g, g) for g in reversed(grades))], required=False, label="Grade"
        )

    def clean(self) -> None:
        super().clean()
        try:
            scale = self.instance.scale
        except UnknownGradeError:
            return  # the assignment form reports the scale itself
        for form in self.forms:
            if not form.has_changed() or form.cleaned_data.get("DELETE") or form.instance.pk:
                continue
            grade = form.cleaned_data.get("grade")
            if grade:
                try:
                    scale.validate(grade)
                except UnknownGradeError as exc:
                    form.add_error("grade", str(exc))


class AnchorForm(forms.ModelForm):
    class Meta:
        model = AnchorEssay
        fields = ("label", "grade", "text")
        widgets = {"text": forms.Textarea(attrs={"rows": 3, "cols": 70})}


class AnchorUploadForm(forms.Form):
    """Two steps: the files are read and each anchor's grade shown (and where it came from);
    nothing is saved until the grader confirms that list (`confirmed`)."""

    # The upload field is called `files`, which shadows `BaseForm.files` (the form reads its data, not that).
    files = MultipleFileField(  # type: ignore[assignment]
        label="Anchor files",
        required=False,
        help_text=(
            f"{', '.join(DOCUMENT_SUFFIXES)} files. The label is the file name; the grade is where the name starts "
            "(A.txt, C+2.md, B_essay.docx) unless a grades CSV is given. You check the grades before they are saved."
        ),
    )
    grades_csv = forms.FileField(
        label="Grades CSV (optional)",
        required=False,
        help_text="A CSV with the header file,grade and one line per anchor file, e.g. essay7.docx,B",
    )
    anchors_json = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, assignment: Assignment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assignment = assignment
        # {"label", "grade", "text", "file", "source", "note"}, filled by clean; saved once confirmed.
        self.anchors: list[dict[str, str]] = []
        self.confirmed = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        uploads = data.get("files") or []
        if uploads:
            self.anchors = self._read(uploads, data.get("grades_csv"))
        elif data.get("anchors_json"):
            self.anchors = self._checked(data["anchors_json"])
            self.confirmed = "_confirm" in self.data
        else:
            raise forms.ValidationError("Choose at least one anchor file.")
        return data

    def _read(self, uploads: list[UploadedFile], grades_csv: UploadedFile | None) -> list[dict[str, str]]:
        try:
            texts = read_uploads(uploads)
            grades = read_grades_upload(grades_csv) if grades_csv else None
        except InvalidInput as exc:
            raise forms.ValidationError(_messages(exc)) from None
        scale = self.assignment.scale
        allowed = f"(grades: {', '.join(scale.grades)})"
        problems, anchors = [], []
        for item in texts:
            grade = grades.get(item.name) if grades is not None else grade_from_file_name(item.stem, scale)
            if grade is None and grades is None and (unknown := unknown_grade_in_file_name(item.stem, scale)):
                problems.append(
                    f"{item.name}: its name starts with {unknown}, which is not a grade of this scale {allowed}; "
                    "rename the file or give a grades CSV"
                )
                continue
            if grade is None:
                where = "the grades CSV has no line for it" if grades is not None else "its name does not start with a grade"
                problems.append(f"{item.name}: {where} {allowed}")
                continue
            if grade not in scale.grades:
                problems.append(f"{item.name}: {grade!r} is not a grade of this scale {allowed}")
                continue
            source = "grades CSV" if grades is not None else "file name"
            anchors.append(
                {"label": item.stem, "grade": grade, "text": item.text, "file": item.name, "source": source, "note": item.note}
            )
        if grades is not None:
            unused = sorted(set(grades) - {item.name for item in texts})
            if unused:
                problems.append(f"the grades CSV names files that were not uploaded: {', '.join(unused)}")
        if problems:
            raise forms.ValidationError(problems)
        return anchors

    def _checked(self, raw: str) -> list[dict[str, str]]:
        """The anchors shown on the preview, checked again (the page could have been edited)."""
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError:
            loaded = None
        keys = {"label", "grade", "text", "file", "source", "note"}
        if not isinstance(loaded, list) or not all(isinstance(a, dict) and keys <= set(a) for a in loaded):
            raise forms.ValidationError("The list of anchors read was lost: choose the files again.")
        scale = self.assignment.scale
        anchors = [{key: str(a[key]) for key in keys} for a in loaded]
        wrong = [a["file"] for a in anchors if a["grade"] not in scale.grades]
        if wrong:
            raise forms.ValidationError(f"Not a grade of this scale for: {', '.join(wrong)}. Choose the files again.")
        return anchors


# --- Batches -----------------------------------------------------------------------------------


class BatchCreateForm(forms.Form):
    assignment = forms.ModelChoiceField(
        queryset=Assignment.objects.none(),
        required=False,
        empty_label="(none: rank the essays without grades)",
        help_text="Its student prompt and rubric go to the judge; its anchors are judged with the essays and give the grades.",
    )
    essay_files = MultipleFileField(
        label="Essay files",
        required=False,
        help_text=f"Select many at once ({', '.join(DOCUMENT_SUFFIXES)}). Each essay is known by its file name.",
    )
    pasted_essays = forms.CharField(
        label="Or paste essays",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="One essay after another, separated by a line of three dashes (---).",
    )
    essays_json = forms.CharField(required=False, widget=forms.HiddenInput)
    comparisons_per_essay = forms.IntegerField(
        label="Budget: comparisons per essay",
        min_value=1,
        max_value=200,
        help_text="The batch judges about (essays × this) ÷ 2 pairs in all, and stops earlier once the ranking is reliable.",
    )
    judge = forms.ChoiceField(
        label="Judge", help_text="A model from the manifest; its estimated cost for this batch is shown below."
    )
    cost_limit_usd = forms.DecimalField(
        label="Cost limit (US$)", required=False, min_value=0.01, decimal_places=2, help_text="Optional: stop once spent."
    )
    grades_settled_at = forms.IntegerField(
        label="Stop when grades are settled (%)",
        required=False,
        min_value=30,
        max_value=99,
        help_text=(
            "Optional, with an assignment: stop once the projected grades are, on average, this likely to be right "
            "(e.g. 70). Empty: spend the budget unless the ranking is reliable first."
        ),
    )
    judge_mode = forms.ChoiceField(
        label="Who judges",
        choices=JudgeMode.choices,
        required=False,
        initial=JudgeMode.LLM,
        help_text="People judge on the judging page once you invite them on the batch's page (you may judge too).",
    )
    human_share = forms.IntegerField(
        label="People's share (%)",
        required=False,
        min_value=1,
        max_value=100,
        help_text="LLM with people, or moderation: the share of the budget asked of people (default 30% and 10%).",
    )
    human_deadline = forms.DateTimeField(
        label="Deadline for people",
        required=False,
        help_text="Optional (YYYY-MM-DD HH:MM, server time): human judging ends then and the batch is scored.",
    )
    start_now = forms.BooleanField(label="Start the batch right away", required=False, initial=True)
    notes_seen = forms.CharField(required=False, widget=forms.HiddenInput)
    confirm_notes = forms.BooleanField(
        label="I have checked the notes on the essays read", required=False, help_text="Needed only when there are notes."
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignments = Assignment.objects.all() if user.is_superuser else Assignment.objects.filter(owner=user)
        assignment_field, judge_field = self.fields["assignment"], self.fields["judge"]
        assert isinstance(assignment_field, forms.ModelChoiceField) and isinstance(judge_field, forms.ChoiceField)
        assignment_field.queryset = assignments
        # Only judges this server can call: a model whose provider has no key is not offered.
        judge_field.choices = [(value, label) for value, label in judge_choices() if _judge_configured(value)]
        unavailable = sorted({m.provider for m in manifest().models if not provider_configured(m.provider)})
        if unavailable:
            judge_field.help_text += (
                f" Not offered: {', '.join(PROVIDER_WORDS.get(p, p) for p in unavailable)}, because this server has no "
                "account with them (ask whoever runs it to add one)."
            )
        default = default_judge()
        self.fields["judge"].initial = default if _judge_configured(default) else None
        self.fields["comparisons_per_essay"].initial = settings.CJ_COMPARISONS_PER_ESSAY
        if settings.CJ_GRADE_CERTAINTY_TARGET:
            self.fields["grades_settled_at"].initial = round(100 * settings.CJ_GRADE_CERTAINTY_TARGET)
        self.creating = "_create" in self.data
        self.file_essays: list[dict[str, str]] = []  # [{"id", "text", "note"}] from files, kept between steps
        self.essays: list[dict[str, str]] = []  # [{"id", "text"}]: what the batch is created with
        self.notes: list[str] = []  # what was guessed or changed, for the grader to check before creating

    def clean(self) -> dict[str, Any]:
        """Files read on an earlier step (kept in `essays_json`) and new files, then the pasted
        essays (read again from their box every time, so they are never added twice); identical
        texts are kept once and every such change is a note to confirm before the batch is created."""
        data = super().clean() or self.cleaned_data
        files = _essays_from_json(data.get("essays_json") or "")
        try:
            uploads = read_uploads(data.get("essay_files") or [])
        except InvalidInput as exc:
            self.add_error("essay_files", _messages(exc))
            uploads = []
        files += [{"id": item.stem, "text": item.text, "note": item.note} for item in uploads]
        self.file_essays = files
        essays = [{"id": e["id"], "text": e["text"]} for e in files]
        notes = [f"{e['id']}: {e['note']}" for e in files if e.get("note")]
        taken = {e["id"] for e in essays}
        number = 0
        for text in split_pasted(data.get("pasted_essays") or ""):
            number += 1
            while f"pasted_{number:02d}" in taken:
                number += 1
            essays.append({"id": f"pasted_{number:02d}", "text": text})
        essays, removed = _without_repeated_texts(essays)
        notes += removed
        problems = _essay_problems(essays)
        if problems:
            raise forms.ValidationError(problems)
        if not essays and not self.errors:
            raise forms.ValidationError("Upload essay files or paste essays: the batch has none yet.")
        anchors = data["assignment"].anchors.count() if data.get("assignment") else 0
        if essays and essays_too_few(len(essays), anchors):
            raise forms.ValidationError(
                f"A batch needs at least two texts to compare; it has {len(essays)} essay"
                + (" and no assignment with anchors" if not anchors else "")
                + ": add essays, or choose an assignment with anchors."
            )
        self.essays, self.notes = essays, notes
        # The tick confirms the notes the grader saw (their digest is on the page): a note that
        # appears on the same submission (a new file) needs a new look.
        if self.creating and notes and not (data.get("confirm_notes") and data.get("notes_seen") == self.notes_digest):
            self.add_error(
                "confirm_notes", "Check the notes on the essays read (above) and tick this box, or fix the files first."
            )
        return data

    @property
    def notes_digest(self) -> str:
        """A digest of the notes shown, so a tick confirms exactly those."""
        return hashlib.sha256("\n".join(self.notes).encode()).hexdigest()[:16] if self.notes else ""

    def request_data(self) -> dict[str, Any]:
        """The `CJAssessmentRequestData` (as a dict) for `services.batch_create`."""
        data = self.cleaned_data
        provider, _, model = data["judge"].partition("/")
        options: dict[str, Any] = {"comparisons_per_essay": data["comparisons_per_essay"]}
        if data.get("cost_limit_usd"):
            options["cost_limit_usd"] = float(data["cost_limit_usd"])
        if data.get("grades_settled_at"):
            options["grade_confidence"] = data["grades_settled_at"] / 100
        options["judge_mode"] = data.get("judge_mode") or JudgeMode.LLM
        if data.get("human_share"):
            options["human_share"] = data["human_share"] / 100
        if data.get("human_deadline"):
            options["human_deadline"] = data["human_deadline"].isoformat()
        request: dict[str, Any] = {
            "essays": self.essays,
            "llm_config_overrides": {"provider_override": provider, "model_override": model},
            "options": options,
        }
        if data.get("assignment"):
            request["assignment_id"] = data["assignment"].pk
        return request


def _essays_from_json(raw: str) -> list[dict[str, str]]:
    """Essays read by an earlier submission of the form (kept so files need not be chosen again)."""
    if not raw:
        return []
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError:
        return []
    if not isinstance(loaded, list):
        return []
    return [
        {"id": str(e["id"]), "text": str(e["text"]), "note": str(e.get("note") or "")}
        for e in loaded
        if isinstance(e, dict) and {"id", "text"} <= set(e)
    ]


def essays_too_few(essays: int, anchors: int) -> bool:
    """A batch compares texts two at a time: it needs at least two, students and anchors together."""
    return essays + anchors < 2


def _judge_configured(judge: str) -> bool:
    return provider_configured(judge.partition("/")[0])


def _without_repeated_texts(essays: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[str]]:
    """Each text once (the first name it came with), and a note for every repeat left out."""
    first: dict[str, str] = {}
    kept, notes = [], []
    for essay in essays:
        key = " ".join(essay["text"].split())
        if key in first:
            notes.append(f"{essay['id']}: the same text as {first[key]}, so it is left out (judged once)")
            continue
        first[key] = essay["id"]
        kept.append(essay)
    return kept, notes


def _essay_problems(essays: Sequence[dict[str, str]]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for essay in essays:
        if essay["id"] in seen:
            problems.append(f"Two essays are called {essay['id']!r}: rename one of the files.")
        seen.add(essay["id"])
        if essay["id"].startswith(ANCHOR_ID_PREFIX):
            problems.append(f"{essay['id']!r}: essay names may not start with {ANCHOR_ID_PREFIX!r} (kept for anchors).")
        if len(essay["text"]) > ESSAY_TEXT_MAX_CHARS:
            problems.append(f"{essay['id']!r} is longer than {ESSAY_TEXT_MAX_CHARS:,} characters.")
    return problems


def _messages(exc: InvalidInput) -> list[str]:
    return [f"{name}: {' '.join(messages)}" for name, messages in exc.fields.items()] or [exc.message]


class ContinueForm(forms.Form):
    additional_comparisons = forms.IntegerField(label="More comparisons", min_value=1, max_value=100_000)
    reliability_target = forms.FloatField(
        label="Stop at reliability (optional)",
        required=False,
        min_value=0.01,
        max_value=0.99,
        help_text="Leave empty to spend all the new comparisons.",
    )


class InviteJudgeForm(forms.Form):
    username = forms.CharField(label="Invite a grader (user name)", max_length=150)


class ExcludeJudgeForm(forms.Form):
    judge = forms.CharField(max_length=200)
    excluded = forms.BooleanField(required=False)
