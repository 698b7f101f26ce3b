"""The results of a batch as contracts (pydantic 2): the `cj-results` document and its parts, one
essay's results row, and the summary `GET /api/v1/batches/{id}/results` answers.

These models are the one definition of each shape: the API's OpenAPI schema, the JSON and CSV
exports, the admin's pages and the ENG5 artefact read them. `SCHEMA_VERSION` changes whenever a
field changes meaning or is removed; adding a field does not change it.
`BatchResults.model_json_schema()` is the published schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_NAME: Final = "cj-results"
SCHEMA_VERSION: Final = 2
# Version 2 (the honest-numbers change): θ and SE come from the population model (posterior mean
# and SD, students shrunk towards their population), `reliability` replaces `ssr` (sirt's SSR is
# kept as `ssr_sirt`), the grading has `cut_se` and `unanchored_grades` in place of
# `unplaced_grades`/`pooled_grades`, and an essay never compared has no θ, SE or rank.
# An essay whose infit is above this fits the scale poorly: judges disagreed about it.
MISFIT_INFIT = 1.3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeUsed(_Model):
    judge: str
    provider: str
    model: str
    comparisons: int = Field(ge=0, description="comparisons sent to this judge")
    is_language_model: bool = Field(description="false for the offline mock judge, which is NOT a language model")


class BatchInfo(_Model):
    id: int
    assignment_id: int | None = None
    state: str
    end_reason: str = ""
    end_message: str = ""
    rounds: int
    created_at: datetime
    finished_at: datetime | None = None
    language: str
    course_code: str = ""
    judges: list[JudgeUsed] = Field(default_factory=list, description="the judges comparisons were sent to")


class ComparisonEntry(_Model):
    """One comparison as the document, the API and the exports show it."""

    id: int
    round: int
    essay_a: str = Field(description="shown first")
    essay_b: str
    judge: str
    provider: str
    model: str
    status: str
    winner: Literal["a", "b"] | None = None
    winner_id: str | None = None
    confidence: int | None = None
    justification: str = ""
    prompt_sha256: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    attempt: int = 0
    error_category: str = ""
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    human: bool = Field(default=False, description="judged by a person (judge `human:<user id>`), not an LLM")
    comment: str = Field(default="", description="a person's optional comment")
    duration_ms: int | None = Field(default=None, description="time a person took, capped by the server")


class EssayScore(_Model):
    id: str
    role: Literal["anchor", "student"]
    grade: str | None = None  # the known (expert) grade of an anchor
    rank: int | None = None
    theta: float | None = None
    se: float | None = None
    comparisons: int = 0
    wins: float = 0.0
    infit: float | None = None
    outfit: float | None = None


class JudgeAgreement(_Model):
    """One judge against the consensus scale (the fit of every judge's comparisons)."""

    judge: str
    comparisons: int
    agreement_with_consensus: float | None = None
    infit: float | None = None
    p_first_wins: float | None = None
    human: bool = Field(default=False, description="a person (`human:<user id>`), not an LLM")
    misfit: bool = Field(
        default=False,
        description=f"infit above {MISFIT_INFIT}: this judge's verdicts disagree with the scale more than chance explains "
        "(the evidence: infit and agreement_with_consensus); a grader may exclude the judge and rescore",
    )


RELIABILITY_HELP = (
    "The share of the students' spread on the scale that is real, not measurement error (0–1): an estimate of the "
    "squared correlation between this ranking and the students' true quality, honest for adaptive pairing too. "
    "Null until it can be estimated (see reliability_note)."
)
SSR_SIRT_HELP = (
    "Scale separation reliability as sirt::btm computes it, for comparison with published studies; adaptive pairing "
    "inflates it, and early on it can be negative."
)


class BTSummary(_Model):
    reliability: float | None = Field(default=None, description=RELIABILITY_HELP)
    reliability_note: str | None = None
    ssr_sirt: float | None = Field(default=None, description=SSR_SIRT_HELP)
    population_sd: float | None = Field(default=None, description="SD of the students' θ in the population model, logits.")
    separation: float | None = None
    p_first_wins: float | None = None
    order_effect: float | None = None
    order_effect_se: float | None = None
    n_comparisons: int = 0
    n_components: int | None = None
    converged: bool | None = None
    log_likelihood: float | None = None
    judges: list[JudgeAgreement] = Field(default_factory=list)
    essays: list[EssayScore] = Field(default_factory=list)


class ProjectedGrade(_Model):
    id: str
    grade: str
    probability: float | None = None
    confidence: str = ""
    expected_grade: float | None = None
    probabilities: dict[str, float] = Field(default_factory=dict)


class Grading(_Model):
    """The grade calibration on the θ scale (`available` false, with a `reason`, without anchors)."""

    available: bool
    reason: str | None = Field(default=None, description="Why no grades were projected.")
    grades: list[str] = Field(default_factory=list)
    centres: list[float | None] = Field(default_factory=list)
    cuts: list[float | None] = Field(default_factory=list, description="Cut points between grades (posterior means).")
    cut_se: list[float | None] = Field(default_factory=list, description="Uncertainty (posterior SD) of each cut point.")
    unanchored_grades: list[str] = Field(
        default_factory=list, description="Grades without an anchor: placed from their neighbours and the typical band width."
    )


class GradeProjections(Grading):
    essays: list[ProjectedGrade] = Field(default_factory=list)


class AnchorRef(_Model):
    id: str
    grade: str


class DirectInversion(_Model):
    """A comparison in which the lower-graded anchor won, with the judge's justification."""

    comparison_id: int
    round: int
    winner: AnchorRef
    loser: AnchorRef
    shown_first: str
    confidence: int | None = None
    justification: str = ""


class AnchorStanding(_Model):
    id: str
    grade: str
    theta: float | None = None
    rank_among_anchors: int | None = None
    comparisons: int
    wins: int
    win_rate: float | None = None


class AnchorAlignment(_Model):
    n_anchors: int
    kendall_tau: float | None = None
    inversions: list[tuple[AnchorRef, AnchorRef]] = Field(
        default_factory=list, description="(lower-graded, higher-graded) anchor pairs whose θ are in the wrong order"
    )
    direct_inversions: list[DirectInversion] = Field(default_factory=list)
    zero_win_anchors: list[AnchorRef] = Field(default_factory=list)
    anchors: list[AnchorStanding] = Field(default_factory=list)


class JudgeCost(_Model):
    judge: str
    comparisons: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class Costs(_Model):
    total_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    by_judge: list[JudgeCost] = Field(default_factory=list)
    prices_as_of: str


# --- People beside the LLM: agreement -----------------------------------------------------------

AI_HUMAN_HELP = (
    "How often a person chose the same essay as the LLM, on pairs both judged (each person's verdict against the "
    "LLM's, its majority if it judged the pair more than once), with a 95% interval (Wilson)."
)
HUMAN_HUMAN_HELP = "How often two people who judged the same pair chose the same essay, with a 95% interval (Wilson)."
ATTENUATION_NOTE = (
    "Each scale carries its own measurement error, so even if people and the LLM ranked by exactly the same quality "
    "their correlation could reach only about the square root of the product of the two reliabilities; the corrected "
    "figure divides by that."
)


class AgreementRate(_Model):
    agree: int = Field(ge=0, description="decisions that agreed")
    n: int = Field(ge=0, description="decisions compared")
    rate: float | None = Field(default=None, description="agree / n; null when n is 0")
    low_95: float | None = None
    high_95: float | None = None


class ScaleCorrelation(_Model):
    r: float = Field(description="Pearson r between θ from people's judgements alone and from the LLM's alone.")
    n_essays: int = Field(description="essays compared by both, over which r is computed")
    reliability_human: float | None = Field(default=None, description="SSR of the people-only fit")
    reliability_llm: float | None = Field(default=None, description="SSR of the LLM-only fit")
    disattenuated: float | None = Field(default=None, description="r / √(reliability_human · reliability_llm)")
    note: str = ATTENUATION_NOTE


class OverturnedVerdict(_Model):
    """A pair on which people's majority chose the other essay than the LLM."""

    essay_1: str
    essay_2: str
    llm_winner: str
    human_winner: str
    human_votes: int
    llm_comparison_ids: list[int] = Field(description="the LLM verdicts overturned; read their justifications")
    llm_justification: str = ""
    human_comments: list[str] = Field(default_factory=list)


class Agreement(_Model):
    """People against the LLM and against each other (null on a batch no person has judged)."""

    human_judgements: int
    llm_judgements: int
    ai_human: AgreementRate = Field(description=AI_HUMAN_HELP)
    human_human: AgreementRate = Field(description=HUMAN_HUMAN_HELP)
    scale_correlation: ScaleCorrelation | None = None
    scale_correlation_note: str | None = Field(default=None, description="why there is no correlation yet")
    overturned: list[OverturnedVerdict] = Field(default_factory=list)
    excluded_judges: list[str] = Field(default_factory=list, description="judges left out of the fit by a grader")


class BatchResults(_Model):
    schema_name: Literal["cj-results"] = SCHEMA_NAME
    schema_version: Literal[2] = SCHEMA_VERSION
    generated_at: datetime
    batch: BatchInfo
    comparisons: list[ComparisonEntry] = Field(default_factory=list)
    bt_summary: BTSummary
    grade_projections: GradeProjections
    anchor_alignment: AnchorAlignment | None = Field(default=None, description="null without graded anchors")
    costs: Costs
    agreement: Agreement | None = Field(default=None, description="people beside the LLM; null when no person judged")


# --- One essay's results row, and the API's results summary ---------------------------------


class EssayResult(_Model):
    """One essay's results: the API's `essays`, a CSV export row, the admin's table, the ENG5 report."""

    essay_pk: int | None = Field(default=None, exclude=True)  # the admin links to the essay's page
    rank: int | None = None
    essay_id: str
    role: Literal["anchor", "student"]
    anchor_grade: str = Field(default="", description="An anchor's known grade; empty for students.")
    theta: float | None = Field(default=None, description="Position on the scale, in logits.")
    se: float | None = None
    theta_low_95: float | None = None
    theta_high_95: float | None = None
    comparisons: int = 0
    wins: float = 0.0
    infit: float | None = None
    outfit: float | None = None
    projected_grade: str = ""
    grade_probability: float | None = Field(default=None, description="P(projected grade).")
    grade_confidence: str = Field(default="", description="high, medium or low.")
    expected_grade: float | None = Field(default=None, description="Probability-weighted grade index (0 = lowest).")
    grade_probabilities: dict[str, float] = Field(default_factory=dict, description="P(grade) per grade.")

    @property
    def grade(self) -> str:
        """The known grade of an anchor, the projected grade of a student."""
        return self.anchor_grade if self.role == "anchor" else self.projected_grade

    @property
    def grade_is_known(self) -> bool:
        return self.role == "anchor"

    @property
    def misfit(self) -> bool:
        return self.infit is not None and self.infit > MISFIT_INFIT


# The CSV export's columns: a row without its grade probabilities (one column per grade would
# differ between scales) and without the expected grade (an index on the scale, which a CSV
# cannot explain; the JSON document keeps it with its description).
EXPORT_COLUMNS: tuple[str, ...] = tuple(
    name
    for name, field in EssayResult.model_fields.items()
    if not field.exclude and name not in ("grade_probabilities", "expected_grade")
)
# Decimals a CSV figure is written with: θ and its interval, SE and fit to 3, probabilities to 3.
EXPORT_DECIMALS = 3


class PositionBias(_Model):
    p_first_wins: float | None = Field(default=None, description="How often the essay shown first won.")
    order_effect: float | None = Field(default=None, description="Fitted advantage of the first position, logits.")
    order_effect_se: float | None = None


class Tokens(_Model):
    input: int
    output: int
    cache_read: int
    cache_write: int


class ResultsSummary(_Model):
    """`GET /api/v1/batches/{id}/results`: per essay and per batch, the latest scoring."""

    batch_id: int
    state: str
    end_reason: str = ""
    scored: bool = Field(description="False until the first round has been scored.")
    reliability: float | None = Field(default=None, description=RELIABILITY_HELP)
    reliability_note: str | None = Field(default=None, description="Why there is no reliability figure yet.")
    ssr_sirt: float | None = Field(default=None, description=SSR_SIRT_HELP)
    separation: float | None = None
    position_bias: PositionBias
    grading: Grading
    anchor_alignment: AnchorAlignment | None = Field(default=None, description="null without graded anchors")
    judges: list[JudgeAgreement] = Field(default_factory=list)
    agreement: Agreement | None = Field(default=None, description="people beside the LLM; null when no person judged")
    tokens: Tokens
    cost_usd: float
    essays_total: int = Field(default=0, description="Essays in the batch; `essays` holds the page asked for.")
    essays_offset: int = Field(default=0, description="Rank-order position of the first essay in `essays`.")
    essays_next: str | None = Field(default=None, description="The next page of essays, or null on the last page.")
    essays: list[EssayResult] = Field(default_factory=list)
