"""The graders' admin site: the ModelAdmins of assignments, batches, essays and comparisons.

Graders are staff users in the "Graders" group (`assessments.graders`). Every queryset here is
filtered by owner, so a grader sees only their own assignments, batches, essays and comparisons
(another grader's object redirects to the list with "does not exist"); superusers see all.
Writes go through `assessments.services`, reads through `assessments.selectors`; the pages' words
are `admin.views`'.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from assessments import plots, selectors, services
from assessments.admin import views
from assessments.admin.forms import (
    AnchorForm,
    AnchorInlineFormSet,
    AnchorUploadForm,
    AssignmentForm,
    BatchCreateForm,
    ContinueForm,
    ExcludeJudgeForm,
    InviteJudgeForm,
)
from assessments.models import (
    AnchorEssay,
    ApiToken,
    Assignment,
    Batch,
    BatchState,
    Comparison,
    ComparisonStatus,
    EndReason,
    Essay,
    JudgeMode,
)
from assessments.results.schema import MISFIT_INFIT
from assessments.results.writers import batch_results_csv_stream, batch_results_json_stream
from assessments.schemas import JUDGEMENT_COMMENT_MAX_CHARS, HumanJudgementInput
from assessments.selectors import essays as essay_selectors
from assessments.selectors import judges as judge_selectors
from assessments.selectors import usage as usage_selectors
from assessments.services import judging
from cjproject.api import request_user
from cjproject.errors import InvalidInput, invalid_from_pydantic
from llmgateway.selectors import usage_summary

# The index is a start page for graders: their work and what to do next, above the model list.
admin.site.index_template = "admin/assessments/index.html"
admin.site.site_header = "Comparative judgement"
admin.site.site_title = "Comparative judgement"
admin.site.index_title = "Start"


class OwnedQuerysetMixin:
    """Non-superusers see only rows they own (through `owner_lookup`)."""

    owner_lookup = "owner"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]  # a mixin: the ModelAdmin supplies it
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.owner_lookup: request.user})


class OwnBatchFilter(admin.SimpleListFilter):
    """Filter by batch, listing only the batches the user may see."""

    title = "batch"
    parameter_name = "batch"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        batches = Batch.objects.all() if request.user.is_superuser else Batch.objects.filter(owner=request_user(request))
        return [
            (str(pk), f"Batch {pk}: {title or 'no assignment'}") for pk, title in batches.values_list("pk", "assignment__title")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(batch_id=int(value))
        return queryset


def _missing(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Back to the list with Django's "does not exist" message: another grader's object, or none."""
    # Django's own redirect for a missing object; django-stubs does not declare this private method.
    return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)  # type: ignore[attr-defined]


def _count(n: int, noun: str, plural: str = "") -> str:
    """ "1 essay", "3 essays", "2 batches"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _whole(raw: str | None) -> int | None:
    """A form's whole number, or None (the contract then names the field)."""
    return int(raw) if raw and raw.isascii() and raw.isdecimal() and len(raw) < 12 else None


def _form_errors(request: HttpRequest, exc: InvalidInput) -> None:
    detail = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.fields.items())
    messages.error(request, f"{exc.message}: {detail}" if detail else exc.message)


# --- Assignments -------------------------------------------------------------------------------


class AnchorListInline(admin.TabularInline):
    """The anchors an assignment has (read-only; delete one by ticking its box)."""

    model = AnchorEssay
    verbose_name = "anchor"
    verbose_name_plural = "anchors"
    fields = ("label", "grade", "text_start")
    readonly_fields = fields
    extra = 0
    ordering = ("grade", "label")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="text")
    def text_start(self, anchor: AnchorEssay) -> str:
        return anchor.text[:160] + ("…" if len(anchor.text) > 160 else "")


class AnchorAddInline(admin.StackedInline):
    """New anchors written inline: each is registered through `services.anchor_register`."""

    model = AnchorEssay
    form = AnchorForm
    formset = AnchorInlineFormSet
    verbose_name = "new anchor"
    verbose_name_plural = "add anchors by typing them (once the assignment is saved, “Upload anchor files” takes files)"
    extra = 1
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return AnchorEssay.objects.none()  # only new rows: existing anchors are listed above


@admin.register(Assignment)
class AssignmentAdmin(OwnedQuerysetMixin, admin.ModelAdmin):
    form = AssignmentForm
    list_display = ("title", "grades", "anchor_coverage", "batch_count", "owner", "created_at")
    search_fields = ("title",)
    inlines = [AnchorListInline, AnchorAddInline]
    change_form_template = "admin/assessments/assignment/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_batches=Count("batches", distinct=True))

    def get_fields(self, request: HttpRequest, obj: Assignment | None = None) -> tuple[str, ...]:
        content: tuple[str, ...] = ("student_prompt", "instructions")
        if obj is not None and obj.batches.exists():
            content = ("prompt_as_written", "rubric_as_written")
        if obj is not None and self._scale_locked(obj):
            return ("title", *content, "scale_in_words", "context_origin")
        return ("title", *content, "grade_scale", "custom_grades_text", "context_origin")

    def get_readonly_fields(self, request: HttpRequest, obj: Assignment | None = None) -> list[str]:
        if obj is None:
            return []
        locked: list[str] = []
        if self._scale_locked(obj):
            locked += ["scale_in_words"]
        if obj.batches.exists():
            # Later rounds of its batches read the prompt and rubric: changing them would change
            # what the judge is asked mid-batch. A new assignment keeps results reproducible.
            locked += ["prompt_as_written", "rubric_as_written", "context_origin"]
        return locked

    @staticmethod
    def _as_written(text: str) -> str:
        return format_html('<div class="cj-text" style="white-space:pre-wrap;max-width:60em">{}</div>', text or "(none)")

    @admin.display(description="Student prompt")
    def prompt_as_written(self, obj: Assignment) -> str:
        return self._as_written(obj.student_prompt)

    @admin.display(description="Rubric and instructions for the judge")
    def rubric_as_written(self, obj: Assignment) -> str:
        return self._as_written(obj.instructions)

    @admin.display(description="Grade scale")
    def scale_in_words(self, obj: Assignment) -> str:
        return ", ".join(obj.scale.grades) + " (lowest first)"

    @staticmethod
    def _locked_words(obj: Assignment) -> list[str]:
        """Why parts of the assignment cannot be changed, in words."""
        words = []
        batches = obj.batches.count()
        if batches:
            words.append(
                f"The student prompt and rubric are locked: {_count(batches, 'batch', 'batches')} "
                "used them, and changing them would change what the judge was asked. "
                "To use other wording, create a new assignment."
            )
        elif obj.anchors.exists():
            words.append("The grade scale is locked: the anchors are graded on it. Delete the anchors to change it.")
        return words

    @staticmethod
    def _scale_locked(obj: Assignment) -> bool:
        return obj.anchors.exists() or obj.batches.exists()

    @admin.display(description="grade scale", ordering="grade_scale")
    def grades(self, obj: Assignment) -> str:
        return ", ".join(obj.scale.grades)

    @admin.display(description="grades with anchors")
    def anchor_coverage(self, obj: Assignment) -> str:
        coverage = selectors.assignment_anchor_coverage(assignment=obj)
        covered = sum(1 for row in coverage if row["count"])
        missing = [row["grade"] for row in coverage if not row["count"]]
        text = f"{covered} of {len(coverage)}"
        return f"{text} (none for {', '.join(missing)})" if missing else f"{text} (all)"

    @admin.display(description="batches", ordering="n_batches")
    def batch_count(self, obj: Assignment) -> int:
        return obj.n_batches  # type: ignore[attr-defined]  # annotated by get_queryset

    def save_model(self, request: HttpRequest, obj: Assignment, form: Any, change: bool) -> None:
        if change:
            data = form.cleaned_data
            changes = {name: data[name] for name in ("title", *services.ASSIGNMENT_CONTENT_FIELDS) if name in data}
            if "custom_grades_text" in data:
                changes["custom_grades"] = data["custom_grades"]
            try:
                # The stored row, not `obj`: the form has already copied its values onto `obj`.
                services.assignment_update(assignment=Assignment.objects.get(pk=obj.pk), changes=changes)
            except InvalidInput as exc:
                _form_errors(request, exc)
            obj.refresh_from_db()
            return
        data = form.cleaned_data
        created = services.assignment_create(
            owner=request_user(request),
            title=data["title"],
            student_prompt=data["student_prompt"],
            instructions=data.get("instructions", ""),
            grade_scale=data["grade_scale"],
            custom_grades=data["custom_grades"],
            context_origin=data["context_origin"],
        )
        # The admin goes on with `obj` (inlines, the log, the redirect): make it the stored row.
        for field in ("pk", "owner_id", "custom_grades", "created_at", "updated_at"):
            setattr(obj, field, getattr(created, field))
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not AnchorEssay or not isinstance(formset, AnchorInlineFormSet):
            super().save_formset(request, form, formset, change)  # deletions of listed anchors
            return
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # read by the change message
        for anchor_form in formset.forms:
            if not anchor_form.has_changed():
                continue
            data = anchor_form.cleaned_data
            try:
                anchor = services.anchor_register(
                    assignment=form.instance, label=data["label"], grade=data["grade"], text=data["text"]
                )
            except InvalidInput as exc:
                _form_errors(request, exc)
            else:
                formset.new_objects.append(anchor)

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "<int:object_id>/upload-anchors/",
                self.admin_site.admin_view(self.upload_anchors_view),
                name="assessments_assignment_upload_anchors",
            )
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            extra["anchor_coverage"] = selectors.assignment_anchor_coverage(assignment=obj)
            extra["locked_words"] = self._locked_words(obj)
        return super().change_view(request, object_id, form_url, extra)

    def upload_anchors_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        assignment = self.get_object(request, str(object_id))
        if assignment is None:
            return _missing(self, request, str(object_id))
        if not (self.has_change_permission(request, assignment) and request.user.has_perm("assessments.add_anchoressay")):
            raise PermissionDenied
        form = AnchorUploadForm(request.POST or None, request.FILES or None, assignment=assignment)
        if request.method == "POST" and form.is_valid() and form.confirmed:
            added, failed = 0, []
            for anchor in form.anchors:
                try:
                    services.anchor_register(
                        assignment=assignment, label=anchor["label"], grade=anchor["grade"], text=anchor["text"]
                    )
                    added += 1
                except InvalidInput as exc:
                    failed.append(f"{anchor['label']}: {'; '.join(m for msgs in exc.fields.values() for m in msgs)}")
            if added:
                messages.success(request, f"{added} anchor{'s' if added != 1 else ''} added.")
            for problem in failed:
                messages.error(request, problem)
            return redirect("admin:assessments_assignment_change", assignment.pk)
        preview = form.anchors if form.is_bound and not form.errors else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Upload anchors: {assignment.title}",
            "assignment": assignment,
            "form": form,
            "grades": assignment.scale.grades,
            "anchor_coverage": selectors.assignment_anchor_coverage(assignment=assignment),
            "preview": [{**a, "words": len(a["text"].split())} for a in preview],
            "anchors_json": json.dumps(preview) if preview else "",
        }
        return TemplateResponse(request, "admin/assessments/assignment/upload_anchors.html", context)


# --- Batches -----------------------------------------------------------------------------------


@admin.register(Batch)
class BatchAdmin(OwnedQuerysetMixin, admin.ModelAdmin):
    # Short enough for 1366 px beside the filters: the end reason is a filter and on the batch's page.
    list_display = ("id", "assignment", "state", "progress", "judge", "cost", "created_at")
    list_display_links = ("id", "assignment")
    list_filter = ("state", "end_reason")
    search_fields = ("assignment__title", "course_code")
    list_select_related = ("assignment",)

    def get_list_filter(self, request: HttpRequest) -> tuple[Any, ...]:
        # Superusers may filter by owner; the assignment filter lists only visible assignments.
        return ("state", "end_reason", "owner") if request.user.is_superuser else ("state", "end_reason")

    @admin.display(description="comparisons judged")
    def progress(self, batch: Batch) -> str:
        done = batch.comparisons_succeeded
        whole = views.budget_whole(batch, spent=batch.budget_spent)
        return f"{done} of at most {whole}" if whole else "-"

    @admin.display(description="judge")
    def judge(self, batch: Batch) -> str:
        llm = ", ".join(j.label for j in judge_selectors.batch_judges(batch=batch))
        return {JudgeMode.HUMAN: "people", JudgeMode.HYBRID: f"{llm} and people", JudgeMode.MODERATION: f"{llm}, moderated"}.get(
            JudgeMode(batch.judge_mode), llm
        )

    @admin.display(description="cost", ordering="cost_usd")
    def cost(self, batch: Batch) -> str:
        return f"${batch.cost_usd:.2f}"

    def get_urls(self) -> list[Any]:
        def view(name: str, func: Any, route: str) -> Any:
            return path(route, self.admin_site.admin_view(func), name=f"assessments_batch_{name}")

        own = [
            view("usage", self.usage_view, "usage/"),
            view("progress", self.progress_view, "<int:object_id>/progress/"),
            view("plot", self.plot_view, "<int:object_id>/plot.png"),
            view("export_csv", self.export_csv_view, "<int:object_id>/export.csv"),
            view("export_json", self.export_json_view, "<int:object_id>/export.json"),
            view("start", require_POST(self.start_view), "<int:object_id>/start/"),
            view("cancel", require_POST(self.cancel_view), "<int:object_id>/cancel/"),
            view("rescore", require_POST(self.rescore_view), "<int:object_id>/rescore/"),
            view("continue", require_POST(self.continue_view), "<int:object_id>/continue/"),
            view("judge", self.judge_view, "<int:object_id>/judge/"),
            view("invite", require_POST(self.invite_view), "<int:object_id>/invite/"),
            view("close_judging", require_POST(self.close_judging_view), "<int:object_id>/close-judging/"),
            view("exclude_judge", require_POST(self.exclude_judge_view), "<int:object_id>/exclude-judge/"),
        ]
        return own + super().get_urls()

    # Deleting: only a batch that has not started or has ended, from its own page (no bulk action,
    # which could take running batches with it).

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or services.batch_deletable(batch=obj))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        batch = self._batch_or_none(request, object_id)
        if batch is None:
            return self._missing(request, object_id)
        if not services.batch_deletable(batch=batch) and super().has_delete_permission(request, batch):
            messages.warning(request, f"Batch {batch.pk} is running: cancel it first, then delete it.")
            return redirect("admin:assessments_batch_change", batch.pk)
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        """The confirmation page's summary: each batch with how many essays and comparisons go with
        it (not one line per row); a grader may delete them, as they are the batch's own rows."""
        batches = list(objs)
        essays = Essay.objects.filter(batch__in=batches).count()
        comparisons = Comparison.objects.filter(batch__in=batches).count()
        summary = [f"Batch {b.pk}" + (f": {b.assignment.title}" if b.assignment is not None else "") for b in batches]
        to_delete: list[Any] = [*summary, [_count(essays, "essay"), _count(comparisons, "comparison")]]
        return to_delete, {"batches": len(batches), "essays": essays, "comparisons": comparisons}, set(), []

    def delete_model(self, request: HttpRequest, obj: Batch) -> None:
        if not services.batch_delete(batch_id=obj.pk):
            raise PermissionDenied  # it started between the confirmation page and this request

    def _batch_or_none(self, request: HttpRequest, object_id: Any) -> Batch | None:
        """The batch if the user may see it (owner filter); None otherwise."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self.get_object(request, str(object_id))

    def _missing(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        return _missing(self, request, str(object_id))

    # Creating a batch: upload (or paste) essays, pick the assignment, the budget and a judge.

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BatchCreateForm(
            request.POST or None, request.FILES or None, user=request.user, initial={"assignment": request.GET.get("assignment")}
        )
        estimates: list[judge_selectors.CostEstimate] = []
        valid = request.method == "POST" and form.is_valid()
        if valid and form.creating:
            try:
                batch = services.batch_create(owner=request_user(request), request=form.request_data())
            except InvalidInput as exc:
                _form_errors(request, exc)
            else:
                self.log_addition(request, batch, [{"added": {}}])
                counted = _count(len(form.essays), "essay")
                if form.cleaned_data["start_now"]:
                    services.batch_start_schedule(batch_id=batch.pk)
                    messages.success(request, f"Batch {batch.pk} created with {counted} and started.")
                else:
                    messages.success(request, f"Batch {batch.pk} created with {counted}; start it when ready.")
                budget = batch.processing_metadata["comparison_budget"]
                if budget.get("capped_from"):
                    messages.warning(
                        request,
                        f"This batch may use at most {budget['max_pairs_requested']:,} comparisons (the server's "
                        f"limit), fewer than the {budget['capped_from']:,} it would have used.",
                    )
                return redirect("admin:assessments_batch_change", batch.pk)
        if valid:
            estimates = self._estimates(form)
        # What was read is shown (and files kept for the next step) even when the form has errors.
        essays = form.essays if form.is_bound else []
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "New batch",
            "form": form,
            "essays": [{"id": e["id"], "words": len(e["text"].split())} for e in essays],
            "notes": form.notes if form.is_bound else [],
            "essays_json": json.dumps(form.file_essays) if form.is_bound and form.file_essays else "",
            "estimates": estimates,
            "chosen_judge": form.data.get("judge") if form.is_bound else form.fields["judge"].initial,
            "anchors": self._anchor_count(form),
        }
        return TemplateResponse(request, "admin/assessments/batch/create.html", context)

    @staticmethod
    def _estimates(form: BatchCreateForm) -> list[judge_selectors.CostEstimate]:
        assignment = form.cleaned_data.get("assignment")
        texts = [e["text"] for e in form.essays]
        texts += list(assignment.anchors.values_list("text", flat=True)) if assignment else []
        return judge_selectors.cost_estimates(
            texts=texts,
            student_prompt=assignment.student_prompt if assignment else "",
            instructions=assignment.instructions if assignment else "",
            comparisons=judge_selectors.planned_comparisons(
                n_essays=len(texts), comparisons_per_essay=form.cleaned_data["comparisons_per_essay"]
            ),
        )

    @staticmethod
    def _anchor_count(form: BatchCreateForm) -> int | None:
        assignment = form.cleaned_data.get("assignment") if form.is_bound and hasattr(form, "cleaned_data") else None
        return assignment.anchors.count() if assignment else None

    # The batch page: state, progress, actions, reliability, plot and the results table.

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        batch = self._batch_or_none(request, object_id)
        if batch is None:
            return self._missing(request, object_id)
        judges = judge_selectors.batch_judges(batch=batch)
        pager = views.results_pager(total=batch.essays.count(), page=views.results_page_number(request.GET.get("page")))
        results = selectors.batch_results(
            batch=batch, offset=(pager["page"] - 1) * views.RESULTS_PAGE_SIZE, limit=views.RESULTS_PAGE_SIZE
        )
        summary = views.batch_summary(batch=batch, results=results)
        estimate = judge_selectors.batch_cost_estimate(batch=batch) if batch.state == BatchState.CREATED else None
        can_act = self.has_change_permission(request, batch)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Batch {batch.pk}" + (f": {batch.assignment.title}" if batch.assignment is not None else ""),
            "batch": batch,
            "judges": judges,
            "mock_note": views.MOCK_NOTE if judge_selectors.batch_judged_by_mock(batch=batch) else "",
            "summary": summary,
            "rows": results.essays,
            "pager": pager,
            "misfit_infit": MISFIT_INFIT,
            "estimate": estimate,
            "can_start": can_act and batch.state == BatchState.CREATED,
            "can_cancel": can_act and not batch.is_terminal,
            "can_delete": self.has_delete_permission(request, batch),
            "delete_blocked": super().has_delete_permission(request, batch) and not services.batch_deletable(batch=batch),
            "can_rescore": can_act and batch.is_terminal and batch.comparisons_succeeded > 0,
            "can_continue": can_act
            and batch.state in (BatchState.COMPLETED, BatchState.FAILED)
            and batch.end_reason != EndReason.INSUFFICIENT_ESSAYS,
            "continue_form": ContinueForm(initial={"additional_comparisons": max(1, batch.essays.count() * 2)}),
            "has_plot": batch.essays.filter(theta__isnull=False).exists(),
            "terminal": batch.is_terminal,
            "invite_form": InviteJudgeForm(),
            "invited": list(batch.human_judges.select_related("user").order_by("invited_at")),
            "can_judge": batch.state == BatchState.RUNNING and summary["people_judge"],
        }
        return TemplateResponse(request, "admin/assessments/batch/detail.html", context)

    def progress_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._batch_or_none(request, object_id)
        if batch is None:
            return JsonResponse({"error": "no such batch"}, status=404)
        return JsonResponse(views.batch_progress_json(batch=batch))

    def plot_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._batch_or_none(request, object_id)
        if batch is None:
            return HttpResponse("no such batch", status=404, content_type="text/plain")
        grading = batch.processing_metadata.get("grading") or {}
        available = grading.get("available", False)
        is_mock = judge_selectors.batch_judged_by_mock(batch=batch)
        png = plots.caterpillar_png(
            rows=selectors.batch_plot_rows(rows=selectors.batch_result_rows(batch=batch)),
            cuts=grading.get("cuts", []) if available else [],
            cut_se=grading.get("cut_se", []) if available else [],
            grades=grading.get("grades", []) if available else [],
            title=f"Batch {batch.pk}: θ with 95% intervals" + (", grade boundaries dashed" if available else ""),
            note="Judge: the offline mock, NOT a language model." if is_mock else "",
        )
        response = HttpResponse(png, content_type="image/png")
        response["Cache-Control"] = "no-store"
        return response

    def _export_name(self, batch: Batch, suffix: str) -> str:
        # The file name says who judged when it was the mock: its rows carry no other trace of it.
        mock = "-offline-mock-judge-not-an-llm" if judge_selectors.batch_judged_by_mock(batch=batch) else ""
        return f"batch-{batch.pk}-results{mock}.{suffix}"

    def export_csv_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        batch = self._batch_or_none(request, object_id)
        if batch is None:
            return self._missing(request, object_id)
        response = StreamingHttpResponse(batch_results_csv_stream(batch=batch), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self._export_name(batch, "csv")}"'
        return response

    def export_json_view(self, request: HttpRequest, object_id: int) -> HttpResponseBase:
        batch = self._batch_or_none(request, object_id)
        if batch is None:
            return self._missing(request, object_id)
        # The `cj-results` document: the one the API exports and the ENG5 runner writes as `results`.
        response = StreamingHttpResponse(batch_results_json_stream(batch=batch), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{self._export_name(batch, "json")}"'
        return response

    # Actions: each calls one service and returns to the batch page with what happened.

    def _acting_on(self, request: HttpRequest, object_id: int) -> Batch | HttpResponse:
        batch = self._batch_or_none(request, object_id)
        if batch is None:
            return self._missing(request, object_id)
        if not self.has_change_permission(request, batch):
            raise PermissionDenied
        return batch

    def start_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        if isinstance(batch, HttpResponse):
            return batch
        if services.batch_start_schedule(batch_id=batch.pk):
            self.log_change(request, batch, "started")
            messages.success(request, f"Batch {batch.pk} started.")
        else:
            messages.warning(request, f"Batch {batch.pk} was not waiting to start (it is {batch.state}).")
        return redirect("admin:assessments_batch_change", batch.pk)

    def cancel_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        if isinstance(batch, HttpResponse):
            return batch
        if services.batch_cancel(batch_id=batch.pk):
            self.log_change(request, batch, "cancelled")
            messages.success(request, f"Batch {batch.pk} cancelled: nothing more will be sent.")
        else:
            messages.warning(request, f"Batch {batch.pk} had already finished ({batch.state}).")
        return redirect("admin:assessments_batch_change", batch.pk)

    def rescore_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        if isinstance(batch, HttpResponse):
            return batch
        if not batch.is_terminal:
            messages.warning(request, "A running batch is rescored after every round; rescore it once it has finished.")
        elif services.batch_rescore(batch_id=batch.pk) is None:
            messages.warning(request, "Nothing to rescore: no comparison has been judged.")
        else:
            self.log_change(request, batch, "rescored")
            messages.success(request, "Rescored from the stored comparisons (no model was called).")
        return redirect("admin:assessments_batch_change", batch.pk)

    def continue_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        if isinstance(batch, HttpResponse):
            return batch
        form = ContinueForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(
                    request, f"{form.fields[field].label if field in form.fields else field}: {' '.join(str(e) for e in errors)}"
                )
            return redirect("admin:assessments_batch_change", batch.pk)
        try:
            services.batch_continue(
                batch_id=batch.pk,
                additional_comparisons=form.cleaned_data["additional_comparisons"],
                reliability_target=form.cleaned_data["reliability_target"],
            )
        except InvalidInput as exc:
            _form_errors(request, exc)
        else:
            self.log_change(request, batch, "continued")
            messages.success(
                request, f"Batch {batch.pk} continues with up to {form.cleaned_data['additional_comparisons']} more comparisons."
            )
        return redirect("admin:assessments_batch_change", batch.pk)

    # People judging: the judging page (owner and invited graders), invitations, excluding a judge.

    def judge_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The judging page: GET shows the person's pair (leased to them); POST records a verdict,
        skips the pair or stops, then shows the next pair (or goes back to the start page)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = request_user(request)
        batch = selectors.batches_judgeable(user=user).filter(pk=object_id).select_related("assignment").first()
        if batch is None:
            return self._missing(request, object_id)
        if request.method == "POST":
            return self._judge_post(request, batch)
        offer = services.judging_next_pair(batch=batch, user=user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Judging: batch {batch.pk}" + (f", {batch.assignment.title}" if batch.assignment is not None else ""),
            "batch": batch,
            "assignment": batch.assignment,
            "offer": offer if isinstance(offer, judging.PairOffer) else None,
            "reason": offer.reason if isinstance(offer, judging.NoPair) else "",
            "progress": offer.progress,
            "is_owner": batch.owner_id == user.pk or user.is_superuser,
            "max_comment": JUDGEMENT_COMMENT_MAX_CHARS,
        }
        return TemplateResponse(request, "admin/assessments/batch/judge.html", context)

    def _judge_post(self, request: HttpRequest, batch: Batch) -> HttpResponse:
        user = request_user(request)
        action = request.POST.get("action", "")
        if action == "stop":
            services.judging_release(batch=batch, user=user)
            messages.info(request, "Stopped for now: your pair went back to the pool. Come back any time.")
            return redirect("admin:index")
        raw = {"lease_id": _whole(request.POST.get("lease_id")), "winner": action, "comment": request.POST.get("comment", "")}
        if (duration := _whole(request.POST.get("duration_ms"))) is not None:
            raw["duration_ms"] = duration
        try:
            body = HumanJudgementInput.model_validate(raw)
            if body.winner == "skip":
                services.judging_skip(batch=batch, user=user, lease_id=body.lease_id)
            else:
                services.judging_record(
                    batch=batch,
                    user=user,
                    lease_id=body.lease_id,
                    winner=body.winner,
                    comment=body.comment,
                    duration_ms=body.duration_ms,
                )
        except ValidationError as exc:
            _form_errors(request, invalid_from_pydantic(exc, "judgement"))
        except InvalidInput as exc:
            _form_errors(request, exc)
        return redirect("admin:assessments_batch_judge", batch.pk)

    def invite_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        if isinstance(batch, HttpResponse):
            return batch
        form = InviteJudgeForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give the user name of a grader to invite.")
            return redirect("admin:assessments_batch_change", batch.pk)
        try:
            invitation, _ = services.batch_judge_invite_named(
                batch=batch, username=form.cleaned_data["username"], staff_only=True
            )
        except InvalidInput as exc:
            _form_errors(request, exc)
        else:
            self.log_change(request, batch, f"invited judge {invitation.user_id}")
            messages.success(request, f"{invitation.user.get_username()} may now judge batch {batch.pk}.")
        return redirect("admin:assessments_batch_change", batch.pk)

    def close_judging_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        if isinstance(batch, HttpResponse):
            return batch
        reason = services.judging_close(batch_id=batch.pk)
        self.log_change(request, batch, "closed human judging")
        if reason:
            messages.success(request, "Human judging closed: the batch was scored with every judgement made.")
        else:
            messages.info(request, "Human judging closed; the LLM's rounds go on and finish the batch.")
        return redirect("admin:assessments_batch_change", batch.pk)

    def exclude_judge_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        batch = self._acting_on(request, object_id)
        if isinstance(batch, HttpResponse):
            return batch
        form = ExcludeJudgeForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Name the judge to exclude.")
            return redirect("admin:assessments_batch_change", batch.pk)
        try:
            services.judge_exclude(batch=batch, judge=form.cleaned_data["judge"], excluded=form.cleaned_data["excluded"])
        except InvalidInput as exc:
            _form_errors(request, exc)
        else:
            verb = "left out of" if form.cleaned_data["excluded"] else "brought back into"
            messages.success(request, f"{form.cleaned_data['judge']}'s verdicts are {verb} the fit; the batch was rescored.")
        return redirect("admin:assessments_batch_change", batch.pk)

    # Usage: tokens and cost by provider and model, per batch and in total.

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        batches = self.get_queryset(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Usage: tokens and cost",
            "by_model": usage_selectors.usage_by_model(batches=batches),
            "by_batch": usage_selectors.usage_by_batch(batches=batches),
            "total": usage_selectors.usage_total(batches=batches),
            "everyone": request.user.is_superuser,
            # Every request the gateway served (the API's included): superusers only.
            "gateway": usage_summary(user=request.user) if request.user.is_superuser else [],
        }
        return TemplateResponse(request, "admin/assessments/batch/usage.html", context)


# --- Essays and comparisons (written by the flow; read here) -----------------------------------


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Essay)
class EssayAdmin(OwnedQuerysetMixin, ReadOnlyMixin, admin.ModelAdmin):
    owner_lookup = "batch__owner"
    list_display = (
        "essay",
        "batch_no",
        "rank",
        "theta_2",
        "se_2",
        "grade",
        "grade_probability_pc",
        "confidence",
    )
    list_filter = ("role", OwnBatchFilter)
    search_fields = ("external_id",)
    list_select_related = ("batch",)

    @admin.display(description="essay", ordering="external_id")
    def essay(self, essay: Essay) -> str:
        return essay.external_id

    @admin.display(description="batch", ordering="batch_id")
    def batch_no(self, essay: Essay) -> int:
        return essay.batch_id

    @admin.display(description="confidence", ordering="grade_confidence")
    def confidence(self, essay: Essay) -> str:
        return essay.grade_confidence or "-"

    # A leading space: the admin capitalises a column's first letter (capfirst), and θ would become Θ.
    @admin.display(description=" θ", ordering="theta")
    def theta_2(self, essay: Essay) -> str:
        return "-" if essay.theta is None else f"{essay.theta:.2f}"

    @admin.display(description="SE", ordering="se")
    def se_2(self, essay: Essay) -> str:
        return "-" if essay.se is None else f"{essay.se:.2f}"

    @admin.display(description="P(grade)", ordering="grade_probability")
    def grade_probability_pc(self, essay: Essay) -> str:
        return "-" if essay.grade_probability is None else f"{round(100 * essay.grade_probability)}%"

    @admin.display(description="grade")
    def grade(self, essay: Essay) -> str:
        return f"{essay.anchor_grade} (anchor)" if essay.anchor_grade else essay.projected_grade

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        essay = self.get_object(request, object_id)
        if essay is None:
            return _missing(self, request, object_id)
        batch = essay.batch
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Essay {essay.external_id} (batch {batch.pk})",
            "essay": essay,
            "batch": batch,
            "record": essay_selectors.essay_record(essay=essay),
            "comparisons": essay_selectors.essay_comparisons(essay=essay),
            "probabilities": sorted(essay.grade_probabilities.items(), key=lambda kv: -kv[1]),
            "mock_note": views.MOCK_NOTE if judge_selectors.batch_judged_by_mock(batch=batch) else "",
            "misfit": essay.infit is not None and essay.infit > MISFIT_INFIT,
        }
        return TemplateResponse(request, "admin/assessments/essay/detail.html", context)


@admin.register(Comparison)
class ComparisonAdmin(OwnedQuerysetMixin, ReadOnlyMixin, admin.ModelAdmin):
    owner_lookup = "batch__owner"
    # Short cells, so that every column fits at 1366 px with the filters beside it.
    list_display = (
        "batch_no",
        "round",
        "first_shown",
        "second_shown",
        "status",
        "winner_essay",
    )  # the judge, its confidence and the error category: on each comparison's page (and filters)
    list_display_links = ("first_shown", "second_shown")
    list_filter = ("status", "winner", "provider", "model", "judge", "error_category", OwnBatchFilter)
    list_select_related = ("batch", "essay_a", "essay_b")
    search_fields = ("justification", "essay_a__external_id", "essay_b__external_id")
    fields = (
        "batch",
        "round_no",
        "status",
        "essay_a",
        "essay_b",
        "winner",
        "confidence",
        "justification",
        "provider",
        "model",
        "judge",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "attempt",
        "error_category",
        "error_detail",
        "prompt_sha256",
        "created_at",
        "sent_at",
        "completed_at",
    )
    readonly_fields = fields

    @admin.display(description="batch", ordering="batch_id")
    def batch_no(self, comparison: Comparison) -> int:
        return comparison.batch_id

    @admin.display(description="round", ordering="round_no")
    def round(self, comparison: Comparison) -> int:
        return comparison.round_no

    @admin.display(description="shown first (A)")
    def first_shown(self, comparison: Comparison) -> str:
        return comparison.essay_a.external_id

    @admin.display(description="shown second (B)")
    def second_shown(self, comparison: Comparison) -> str:
        return comparison.essay_b.external_id

    @admin.display(description="winner", ordering="winner")
    def winner_essay(self, comparison: Comparison) -> str:
        if comparison.status != ComparisonStatus.SUCCEEDED:
            return "-"
        return (comparison.essay_a if comparison.winner == "a" else comparison.essay_b).external_id

    @admin.display(description="judge")
    def judge_label(self, comparison: Comparison) -> str:
        return comparison.judge or f"{comparison.provider}/{comparison.model}".strip("/")


# --- API tokens: hashed at rest; the key is shown once, when the token is added -----------------

try:  # DRF's own Tokens page would list plain keys; there are none left (0005_api_tokens)
    from rest_framework.authtoken.models import TokenProxy

    admin.site.unregister(TokenProxy)
except NotRegistered:  # pragma: no cover - DRF's admin not loaded
    pass


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix_shown", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    fields = ("user", "name", "expires_at", "revoked_at", "prefix_shown", "created_at", "last_used_at")
    readonly_fields = ("prefix_shown", "created_at", "last_used_at")
    actions = ["revoke"]

    @admin.display(description="key starts with")
    def prefix_shown(self, token: ApiToken) -> str:
        return f"{token.prefix}…" if token.prefix else "-"

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = services.api_token_create(user=obj.user, name=obj.name, expires_at=obj.expires_at)
        obj.pk, obj.prefix, obj.digest, obj.created_at = token.pk, token.prefix, token.digest, token.created_at
        messages.warning(request, f"The new token's key, shown this once (only its digest is kept): {key}")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            services.api_token_revoke(token=token)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
