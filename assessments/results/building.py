"""Building a batch's results from the database: the `cj-results` document, the one per-essay
results row (`essay_results`), the anchor alignment, and the API's results summary.

Every reader of results goes through here: the API (`/results`, the exports), the admin, the
demo's CSV and the ENG5 runner (which builds its rows from the document it embeds), so a row or an
alignment is computed one way only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from assessments.engine import agreement as agreement_engine
from assessments.engine.grading import anchor_alignment
from assessments.engine.scales import GradeScale
from assessments.models import HUMAN_JUDGE_PREFIX, Batch, Comparison, ComparisonStatus, Essay, EssayRole
from assessments.results.schema import (
    MISFIT_INFIT,
    Agreement,
    AgreementRate,
    AnchorAlignment,
    AnchorRef,
    AnchorStanding,
    BatchInfo,
    BatchResults,
    BTSummary,
    ComparisonEntry,
    Costs,
    DirectInversion,
    EssayResult,
    EssayScore,
    GradeProjections,
    Grading,
    JudgeAgreement,
    JudgeCost,
    JudgeUsed,
    OverturnedVerdict,
    PositionBias,
    ProjectedGrade,
    ResultsSummary,
    ScaleCorrelation,
    Tokens,
)
from llmgateway.manifest import manifest
from llmgateway.vocabulary import MOCK_PROVIDER

NOT_SCORED = {"available": False, "reason": "not scored yet"}


def batch_results_document(
    *,
    batch: Batch,
    essay_id: Mapping[int, str] | None = None,
    anchor_grades: Mapping[str, str] | None = None,
    scale: GradeScale | None = None,
    with_comparisons: bool = True,
) -> BatchResults:
    """The batch's results, read from the database only.

    `essay_id` maps an essay's primary key to the id it appears under (default: its external id,
    as the batch was created with). `anchor_grades` (by that id) marks further essays as anchors
    with known grades: the research runner's anchor-alignment runs send anchors as students and
    keep their grades. `scale` defaults to the assignment's grade scale; without one (a guest
    batch) there is no anchor alignment. `with_comparisons=False` leaves `comparisons` empty
    for a writer that streams them (`comparison_entries`).
    """
    batch.refresh_from_db()
    essays = list(batch.essays.order_by("id").defer("text"))
    id_of = {e.pk: (essay_id[e.pk] if essay_id is not None else e.external_id) for e in essays}
    grade_of = _known_grades(essays, id_of)
    grade_of.update(anchor_grades or {})
    if scale is None and batch.assignment is not None:
        scale = batch.assignment.scale
    comparisons = list(comparison_entries(batch=batch, id_of=id_of)) if with_comparisons else []
    # The anchor alignment needs only the comparisons with an anchor in them.
    anchor_pks = [pk for pk, essay in id_of.items() if essay in grade_of]
    with_anchor = (
        [c for c in comparisons if c.essay_a in grade_of or c.essay_b in grade_of]
        if with_comparisons
        else list(comparison_entries(batch=batch, id_of=id_of, essays=anchor_pks))
    )
    meta = batch.processing_metadata
    scoring = meta.get("scoring", {})
    scores = essay_scores(essays, id_of=id_of, grade_of=grade_of)
    bt = BTSummary(
        **{
            k: scoring.get(k)
            for k in (
                "reliability",
                "reliability_note",
                "ssr_sirt",
                "population_sd",
                "separation",
                "p_first_wins",
                "order_effect",
                "order_effect_se",
            )
        },
        n_comparisons=scoring.get("n_comparisons", 0),
        n_components=scoring.get("n_components"),
        converged=scoring.get("converged"),
        log_likelihood=scoring.get("log_likelihood"),
        judges=_judges(meta),
        essays=scores,
    )
    return BatchResults(
        generated_at=timezone.now(),
        batch=_batch_info(batch),
        comparisons=comparisons,
        bt_summary=bt,
        grade_projections=grade_projections(essays, id_of=id_of, grading=meta.get("grading", NOT_SCORED)),
        anchor_alignment=anchor_alignment_build(scores, with_anchor, grade_of, scale) if scale is not None else None,
        costs=_costs(batch),
        agreement=batch_agreement(batch=batch, id_of=id_of),
    )


def _known_grades(essays: Iterable[Essay], id_of: Mapping[int, str]) -> dict[str, str]:
    """The known grade of each anchor, by the id it appears under."""
    return {id_of[e.pk]: e.anchor_grade for e in essays if e.role == EssayRole.ANCHOR and e.anchor_grade}


def essay_scores(essays: Iterable[Essay], *, id_of: Mapping[int, str], grade_of: Mapping[str, str]) -> list[EssayScore]:
    """Each essay's Bradley–Terry figures, best first (unscored essays last)."""
    return [
        EssayScore(
            id=id_of[e.pk],
            role="anchor" if id_of[e.pk] in grade_of else "student",
            grade=grade_of.get(id_of[e.pk]),
            rank=e.rank,
            theta=e.theta,
            se=e.se,
            comparisons=e.comparison_count,
            wins=e.wins,
            infit=e.infit,
            outfit=e.outfit,
        )
        for e in sorted(essays, key=lambda e: (e.rank is None, e.rank or 0, id_of[e.pk]))
    ]


def grade_projections(essays: Iterable[Essay], *, id_of: Mapping[int, str], grading: Mapping[str, Any]) -> GradeProjections:
    """The calibration stored by the last scoring, and each projected essay's grade."""
    return GradeProjections(
        **grading_contract(grading).model_dump(),
        essays=[
            ProjectedGrade(
                id=id_of[e.pk],
                grade=e.projected_grade,
                probability=e.grade_probability,
                confidence=e.grade_confidence,
                expected_grade=e.expected_grade,
                probabilities=e.grade_probabilities or {},
            )
            for e in essays
            if e.projected_grade
        ],
    )


def essay_results(
    scores: Iterable[EssayScore], projections: Iterable[ProjectedGrade], *, pk_of: Mapping[str, int] | None = None
) -> list[EssayResult]:
    """One results row per essay, in the order of `scores` (best first), with its 95% interval.

    The one row builder: from the database (`batch_essay_results`) and from a stored document
    (the ENG5 runner) alike. `pk_of` gives each row its essay's primary key (the admin links it).
    """
    projected = {p.id: p for p in projections}
    rows = []
    for score in scores:
        grade = projected.get(score.id)
        interval = (
            (score.theta - 1.96 * score.se, score.theta + 1.96 * score.se)
            if score.theta is not None and score.se is not None
            else (None, None)
        )
        rows.append(
            EssayResult(
                essay_pk=(pk_of or {}).get(score.id),
                rank=score.rank,
                essay_id=score.id,
                role=score.role,
                anchor_grade=score.grade or "",
                theta=score.theta,
                se=score.se,
                theta_low_95=interval[0],
                theta_high_95=interval[1],
                comparisons=score.comparisons,
                wins=score.wins,
                infit=score.infit,
                outfit=score.outfit,
                projected_grade=grade.grade if grade else "",
                grade_probability=grade.probability if grade else None,
                grade_confidence=grade.confidence if grade else "",
                expected_grade=grade.expected_grade if grade else None,
                grade_probabilities=grade.probabilities if grade else {},
            )
        )
    return rows


# Essays read per query when results are built page by page or streamed.
RESULTS_CHUNK = 2000


def _essays_best_first(batch: Batch) -> QuerySet[Essay]:
    """The batch's essays in results order: by rank, the unranked last, ties by id."""
    return batch.essays.order_by(F("rank").asc(nulls_last=True), "external_id", "id").defer("text")


def batch_essay_results(*, batch: Batch, offset: int = 0, limit: int | None = None) -> list[EssayResult]:
    """The batch's essays as results rows, best first, read from the database (a page of them
    when `limit` is given: one query, whatever the batch's size)."""
    essays = _essays_best_first(batch)
    return _rows(list(essays[offset : offset + limit] if limit is not None else essays[offset:]))


def batch_essay_results_stream(*, batch: Batch) -> Iterator[EssayResult]:
    """Every essay of the batch as a results row, best first, read RESULTS_CHUNK at a time."""
    chunk: list[Essay] = []
    for essay in _essays_best_first(batch).iterator(chunk_size=RESULTS_CHUNK):
        chunk.append(essay)
        if len(chunk) == RESULTS_CHUNK:
            yield from _rows(chunk)
            chunk = []
    yield from _rows(chunk)


def _rows(essays: list[Essay]) -> list[EssayResult]:
    id_of = {e.pk: e.external_id for e in essays}
    scores = essay_scores(essays, id_of=id_of, grade_of=_known_grades(essays, id_of))
    projections = grade_projections(essays, id_of=id_of, grading={}).essays
    return essay_results(scores, projections, pk_of={e.external_id: e.pk for e in essays})


def batch_anchor_alignment(*, batch: Batch) -> AnchorAlignment | None:
    """The anchor alignment as the JSON export shows it (None for a batch without graded anchors)."""
    if batch.assignment is None:
        return None
    essays = list(batch.essays.order_by("id").defer("text"))
    id_of = {e.pk: e.external_id for e in essays}
    grade_of = _known_grades(essays, id_of)
    # Only comparisons with an anchor in them count for the alignment (its wins, games, upsets).
    judged = (
        batch.comparisons.filter(status=ComparisonStatus.SUCCEEDED)
        .filter(Q(essay_a__role=EssayRole.ANCHOR) | Q(essay_b__role=EssayRole.ANCHOR))
        .order_by("round_no", "id")
    )
    comparisons = [comparison_entry(c, essay_a=id_of[c.essay_a_id], essay_b=id_of[c.essay_b_id]) for c in judged]
    return anchor_alignment_build(
        essay_scores(essays, id_of=id_of, grade_of=grade_of), comparisons, grade_of, batch.assignment.scale
    )


def batch_results_summary(*, batch: Batch, offset: int = 0, limit: int | None = None, page_url: str = "") -> ResultsSummary:
    """Per essay: rank, θ, SE, 95% interval, fit, projected grade and P(grade) per grade.
    Per batch: reliability, position bias, grading, anchor alignment, judges, tokens and cost.

    Essays come a page at a time when `limit` is given (`essays_next` is `page_url` with the next
    offset), so that reading a batch of thousands costs the same as reading one of forty."""
    meta = batch.processing_metadata
    scoring = meta.get("scoring", {})
    total = batch.essays.count()
    tokens = batch.comparisons.aggregate(
        input=Sum("input_tokens", default=0),
        output=Sum("output_tokens", default=0),
        cache_read=Sum("cache_read_tokens", default=0),
        cache_write=Sum("cache_write_tokens", default=0),
    )
    return ResultsSummary(
        batch_id=batch.pk,
        state=batch.state,
        end_reason=batch.end_reason,
        scored=bool(scoring),
        reliability=scoring.get("reliability"),
        reliability_note=scoring.get("reliability_note") if scoring else "not scored yet",
        ssr_sirt=scoring.get("ssr_sirt"),
        separation=scoring.get("separation"),
        position_bias=PositionBias(**{k: scoring.get(k) for k in PositionBias.model_fields}),
        grading=grading_contract(meta.get("grading", NOT_SCORED)),
        anchor_alignment=batch_anchor_alignment(batch=batch),
        judges=_judges(meta),
        agreement=batch_agreement(batch=batch),
        tokens=Tokens(**tokens),
        cost_usd=float(batch.cost_usd),
        essays_total=total,
        essays_offset=offset,
        essays_next=f"{page_url}?offset={offset + limit}&limit={limit}" if limit is not None and offset + limit < total else None,
        essays=batch_essay_results(batch=batch, offset=offset, limit=limit),
    )


def grading_contract(grading: Mapping[str, Any]) -> Grading:
    """The stored grading metadata as its contract; keys of an older scoring that the contract
    no longer has are dropped (a rescore writes the current ones)."""
    merged = {**NOT_SCORED, **grading}
    return Grading.model_validate({k: v for k, v in merged.items() if k in Grading.model_fields})


def _judges(meta: Mapping[str, Any]) -> list[JudgeAgreement]:
    stored = ("judge", "comparisons", "agreement_with_consensus", "infit", "p_first_wins")
    return [
        JudgeAgreement(
            **{k: j.get(k) for k in stored},
            human=str(j.get("judge", "")).startswith(HUMAN_JUDGE_PREFIX),
            misfit=j.get("infit") is not None and j["infit"] > MISFIT_INFIT,
        )
        for j in meta.get("judges", [])
    ]


def comparison_entries(*, batch: Batch, id_of: Mapping[int, str], essays: list[int] | None = None) -> Iterator[ComparisonEntry]:
    """The batch's comparisons (only those of `essays` when given), in order, RESULTS_CHUNK per query."""
    comparisons = batch.comparisons.order_by("round_no", "id")
    if essays is not None:
        comparisons = comparisons.filter(Q(essay_a_id__in=essays) | Q(essay_b_id__in=essays))
    for c in comparisons.iterator(chunk_size=RESULTS_CHUNK):
        yield comparison_entry(c, essay_a=id_of[c.essay_a_id], essay_b=id_of[c.essay_b_id])


def comparison_entry(comparison: Comparison, *, essay_a: str, essay_b: str) -> ComparisonEntry:
    """One comparison, its essays under the given ids (`essay_a` was shown first)."""
    c = comparison
    winner = c.winner or None
    return ComparisonEntry(
        id=c.pk,
        round=c.round_no,
        essay_a=essay_a,
        essay_b=essay_b,
        judge=_judge_label(c.judge, c.provider, c.model),
        provider=c.provider,
        model=c.model,
        status=c.status,
        winner=winner,
        winner_id={"a": essay_a, "b": essay_b}.get(winner or ""),
        confidence=c.confidence,
        justification=c.justification or "",
        prompt_sha256=c.prompt_sha256 or "",
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        cache_read_tokens=c.cache_read_tokens,
        cache_write_tokens=c.cache_write_tokens,
        cost_usd=float(c.cost_usd or 0),
        attempt=c.attempt,
        error_category=c.error_category or "",
        sent_at=c.sent_at,
        completed_at=c.completed_at,
        human=c.judge_user_id is not None,
        comment=c.comment or "",
        duration_ms=c.duration_ms,
    )


def _judge_label(judge: str, provider: str, model: str) -> str:
    if judge:
        return judge
    return f"{provider}/{model}" if provider else ""


def _batch_info(batch: Batch) -> BatchInfo:
    used = (
        batch.comparisons.exclude(provider="")
        .values("judge", "provider", "model")
        .annotate(n=Count("pk"))
        .order_by("judge", "provider", "model")
    )
    return BatchInfo(
        id=batch.pk,
        assignment_id=batch.assignment_id,
        state=batch.state,
        end_reason=batch.end_reason or "",
        end_message=batch.end_message or "",
        rounds=batch.current_round,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        language=batch.language,
        course_code=batch.course_code or "",
        judges=[
            JudgeUsed(
                judge=_judge_label(row["judge"], row["provider"], row["model"]),
                provider=row["provider"],
                model=row["model"],
                comparisons=row["n"],
                is_language_model=row["provider"] != MOCK_PROVIDER,
            )
            for row in used
        ],
    )


def anchor_alignment_build(
    scores: list[EssayScore], comparisons: list[ComparisonEntry], grade_of: Mapping[str, str], scale: GradeScale
) -> AnchorAlignment | None:
    """Kendall τ, inversions, direct inversions with justifications, winless anchors, win rates.

    The engine's `anchor_alignment` does the statistics; here ids become anchors with grades.
    """
    ids = [s.id for s in scores]
    index = {essay_id: i for i, essay_id in enumerate(ids)}
    anchors = [s for s in scores if s.id in grade_of and s.theta is not None and grade_of[s.id] in scale.grades]
    if not anchors:
        return None
    graded = {s.id for s in anchors}
    theta = np.array([s.theta if s.theta is not None else np.nan for s in scores])
    anchor_index = np.array([index[s.id] for s in anchors], dtype=np.int64)
    anchor_grade = np.array([scale.index(grade_of[s.id]) for s in anchors], dtype=np.int64)
    decided = [c for c in comparisons if c.status == ComparisonStatus.SUCCEEDED and c.winner_id]
    winners = np.array([index[w] for c in decided if (w := c.winner_id) is not None], dtype=np.int64)
    losers = np.array([index[c.essay_b if c.winner == "a" else c.essay_a] for c in decided], dtype=np.int64)
    result = anchor_alignment(theta=theta, anchor_index=anchor_index, anchor_grade=anchor_grade, winners=winners, losers=losers)

    def ref(i: int) -> AnchorRef:
        return AnchorRef(id=ids[i], grade=grade_of[ids[i]])

    direct = []
    for c in decided:
        loser = c.essay_b if c.winner == "a" else c.essay_a
        if c.winner_id in graded and loser in graded and scale.index(grade_of[c.winner_id]) < scale.index(grade_of[loser]):
            direct.append(
                DirectInversion(
                    comparison_id=c.id,
                    round=c.round,
                    winner=ref(index[c.winner_id]),
                    loser=ref(index[loser]),
                    shown_first=c.essay_a,
                    confidence=c.confidence,
                    justification=c.justification,
                )
            )
    order = sorted(anchors, key=lambda s: -(s.theta or 0.0))
    rank = {s.id: r for r, s in enumerate(order, start=1)}
    wins = dict.fromkeys(graded, 0)
    played = dict.fromkeys(graded, 0)
    for c in decided:
        for essay in (c.essay_a, c.essay_b):
            if essay in played:
                played[essay] += 1
        if c.winner_id in wins:
            wins[c.winner_id] += 1
    standings = [
        AnchorStanding(
            id=s.id,
            grade=grade_of[s.id],
            theta=s.theta,
            rank_among_anchors=rank[s.id],
            comparisons=played[s.id],
            wins=wins[s.id],
            win_rate=round(wins[s.id] / played[s.id], 4) if played[s.id] else None,
        )
        for s in sorted(anchors, key=lambda s: (-scale.index(grade_of[s.id]), s.id))
    ]
    return AnchorAlignment(
        n_anchors=result.n_anchors,
        kendall_tau=float(result.kendall_tau) if np.isfinite(result.kendall_tau) else None,
        inversions=[(ref(lo), ref(hi)) for lo, hi in result.inversions],
        direct_inversions=direct,
        zero_win_anchors=[ref(i) for i in result.zero_win_anchors],
        anchors=standings,
    )


def _costs(batch: Batch) -> Costs:
    totals = batch.comparisons.aggregate(
        input_tokens=Sum("input_tokens", default=0),
        output_tokens=Sum("output_tokens", default=0),
        cache_read_tokens=Sum("cache_read_tokens", default=0),
        cache_write_tokens=Sum("cache_write_tokens", default=0),
    )
    by_judge = (
        batch.comparisons.exclude(status=ComparisonStatus.CANCELLED)
        .values("judge", "provider", "model")
        .annotate(
            n=Count("pk"),
            input_tokens=Sum("input_tokens", default=0),
            output_tokens=Sum("output_tokens", default=0),
            cost=Sum("cost_usd", default=0),
        )
        .order_by("judge", "provider", "model")
    )
    return Costs(
        total_usd=float(batch.cost_usd),
        prices_as_of=manifest().prices_as_of.isoformat(),
        by_judge=[
            JudgeCost(
                judge=_judge_label(row["judge"], row["provider"], row["model"]) or "not sent",
                comparisons=row["n"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cost_usd=float(row["cost"]),
            )
            for row in by_judge
        ],
        **totals,
    )


def batch_agreement(*, batch: Batch, id_of: Mapping[int, str] | None = None) -> Agreement | None:
    """People against the LLM and each other, from the succeeded comparisons (None when no person
    judged). Judges a grader excluded are left out here too. `id_of` names essays (default:
    their external ids); overturned verdicts carry the LLM's justification and people's comments."""
    if not batch.comparisons.filter(judge_user__isnull=False, status=ComparisonStatus.SUCCEEDED).exists():
        return None
    excluded = list(batch.processing_metadata.get("excluded_judges", []))
    rows = [
        row
        for row in batch.comparisons.filter(status=ComparisonStatus.SUCCEEDED)
        .order_by("id")
        .values_list("id", "essay_a_id", "essay_b_id", "winner", "judge", "judge_user_id")
        if (row[4] or "default") not in excluded
    ]
    essays = list(batch.essays.order_by("id").values_list("id", "external_id"))
    index_of = {pk: i for i, (pk, _) in enumerate(essays)}
    name = [id_of[pk] if id_of is not None else external for pk, external in essays]
    first = np.array([index_of[r[1]] for r in rows], dtype=np.int64)
    second = np.array([index_of[r[2]] for r in rows], dtype=np.int64)
    report = agreement_engine.agreement(
        first,
        second,
        np.where(np.array([r[3] == "a" for r in rows], dtype=bool), first, second),
        np.array([r[4] or "default" for r in rows]),
        np.array([r[5] is not None for r in rows], dtype=bool),
        n_items=len(essays),
    )
    overturned = []
    for item in report.overturned:
        llm_ids = [rows[i][0] for i in item.llm_judgements]
        human_ids = [r[0] for r in rows if r[5] is not None and {index_of[r[1]], index_of[r[2]]} == {item.lo, item.hi}]
        texts = dict(Comparison.objects.filter(pk__in=llm_ids[:1]).values_list("pk", "justification"))
        comments = list(Comparison.objects.filter(pk__in=human_ids).exclude(comment="").values_list("comment", flat=True))
        overturned.append(
            OverturnedVerdict(
                essay_1=name[item.lo],
                essay_2=name[item.hi],
                llm_winner=name[item.llm_winner],
                human_winner=name[item.human_winner],
                human_votes=item.human_votes,
                llm_comparison_ids=llm_ids,
                llm_justification=texts.get(llm_ids[0], "") if llm_ids else "",
                human_comments=comments,
            )
        )
    correlation = report.correlation
    return Agreement(
        human_judgements=report.n_human,
        llm_judgements=report.n_llm,
        ai_human=_rate(report.ai_human),
        human_human=_rate(report.human_human),
        scale_correlation=ScaleCorrelation(
            r=correlation.r,
            n_essays=correlation.n_essays,
            reliability_human=correlation.reliability_human,
            reliability_llm=correlation.reliability_llm,
            disattenuated=correlation.disattenuated,
        )
        if correlation is not None
        else None,
        scale_correlation_note=report.correlation_unavailable,
        overturned=overturned,
        excluded_judges=excluded,
    )


def _rate(figure: agreement_engine.Proportion) -> AgreementRate:
    return AgreementRate(agree=figure.agree, n=figure.n, rate=figure.rate, low_95=figure.low, high_95=figure.high)
