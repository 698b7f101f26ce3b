"""The ENG5 run artefact: one JSON document per run, with a versioned schema (pydantic 2).

`RunArtefact.model_json_schema()` is the published schema (also written beside each artefact);
`SCHEMA_VERSION` changes whenever a field changes meaning or is removed. Essays appear only under
their opaque ids; the input list maps each id to its file and checksums.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_NAME = "cj-eng5-run"
SCHEMA_VERSION = 1
Mode = Literal["dry-run", "execute", "anchor-align"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JudgeInfo(_Model):
    provider: str
    model: str
    display_name: str
    temperature: float | None = None
    reasoning_effort: str | None = None
    is_language_model: bool
    note: str = ""


class RunInfo(_Model):
    run_id: str
    mode: Mode
    created_at: datetime
    finished_at: datetime | None = None
    runner_version: str
    git_sha: str | None = None
    judge: JudgeInfo
    batching_mode: str
    seed: int
    grade_scale: str
    grades: list[str]
    comparisons_per_essay: int | None = None
    max_comparisons: int | None = None
    course_code: str
    assignment_id: int | None = None
    batch_id: int | None = None
    state: str  # "not-run" (dry run), or the batch's state
    end_reason: str = ""
    end_message: str = ""
    waited: bool = True


class TextFileRef(_Model):
    role: str
    file: str
    sha256: str = Field(min_length=64, max_length=64)


class InputEssay(_Model):
    id: str
    role: Literal["anchor", "student"]
    file: str
    format: str
    file_sha256: str = Field(min_length=64, max_length=64)
    text_sha256: str = Field(min_length=64, max_length=64)
    words: int = Field(ge=0)
    estimated_tokens: int = Field(ge=0)
    grade: str | None = None
    grade_source: str = ""


class Inputs(_Model):
    texts: list[TextFileRef]
    anchors: list[InputEssay]
    essays: list[InputEssay]
    ignored_files: list[str] = Field(default_factory=list)


class TokenEstimate(_Model):
    system_prompt: int
    static_block: int
    answer_and_schema: int
    mean_essay: float
    input_per_comparison: float
    output_per_comparison: int
    total_input: int
    total_output: int


class Estimate(_Model):
    n_anchors: int
    n_students: int
    n_items: int
    expected_comparisons: int
    budget_source: str
    comparisons_per_essay: float
    round_sizes: list[int]
    max_rounds: int
    reliability_target: float
    tokens: TokenEstimate
    batch_discount_applied: bool
    prompt_caching: bool
    cost_usd: float
    cost_usd_with_caching: float | None = None
    prices_as_of: str
    notes: list[str] = Field(default_factory=list)


class ComparisonRecord(_Model):
    id: int
    round: int
    essay_a: str
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


class BTSummary(_Model):
    ssr: float | None = None
    separation: float | None = None
    p_first_wins: float | None = None
    order_effect: float | None = None
    order_effect_se: float | None = None
    n_comparisons: int = 0
    n_components: int | None = None
    converged: bool | None = None
    log_likelihood: float | None = None
    essays: list[EssayScore] = Field(default_factory=list)


class ProjectedGrade(_Model):
    id: str
    grade: str
    probability: float | None = None
    confidence: str = ""
    expected_grade: float | None = None
    probabilities: dict[str, float] = Field(default_factory=dict)


class GradeProjections(_Model):
    available: bool
    reason: str | None = None
    grades: list[str] = Field(default_factory=list)
    centres: list[float | None] = Field(default_factory=list)
    cuts: list[float | None] = Field(default_factory=list)
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
    estimated_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    by_judge: list[JudgeCost] = Field(default_factory=list)
    prices_as_of: str


class ArtefactFile(_Model):
    name: str
    kind: Literal["csv", "markdown", "png", "json-schema"]
    bytes: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)


class RunArtefact(_Model):
    schema_name: Literal["cj-eng5-run"] = SCHEMA_NAME
    schema_version: Literal[1] = SCHEMA_VERSION
    run: RunInfo
    inputs: Inputs
    estimate: Estimate
    comparisons: list[ComparisonRecord] = Field(default_factory=list)
    bt_summary: BTSummary | None = None
    grade_projections: GradeProjections | None = None
    anchor_alignment: AnchorAlignment | None = None
    costs: Costs
    files: list[ArtefactFile] = Field(default_factory=list, description="every other file of the run, with its checksum")
    warnings: list[str] = Field(default_factory=list)
