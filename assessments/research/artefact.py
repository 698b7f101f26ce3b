"""The ENG5 run artefact: one JSON document per run, with a versioned schema (pydantic 2).

`RunArtefact.model_json_schema()` is the published schema (also written beside each artefact);
`SCHEMA_VERSION` changes whenever a field changes meaning or is removed. Essays appear only under
their opaque ids; the input list maps each id to its file and checksums.

The artefact holds the run (metadata, inputs, estimate, files, warnings); the batch's results are
`results`, the `cj-results` document of `assessments.results.schema` (the one the API and the
admin export), or null when no batch ran. Version 2: the results moved from top-level sections
(`comparisons`, `bt_summary`, `grade_projections`, `anchor_alignment`, `costs`) into `results`.
Version 3: `results` is cj-results version 2 (reliability from the population model).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from assessments.results.schema import BatchResults

SCHEMA_NAME: Final = "cj-eng5-run"
SCHEMA_VERSION: Final = 3
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


class ArtefactFile(_Model):
    name: str
    kind: Literal["csv", "markdown", "png", "json-schema"]
    bytes: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)


class RunArtefact(_Model):
    schema_name: Literal["cj-eng5-run"] = SCHEMA_NAME
    schema_version: Literal[3] = SCHEMA_VERSION
    run: RunInfo
    inputs: Inputs
    estimate: Estimate
    results: BatchResults | None = Field(
        default=None, description="the batch's results (schema cj-results); null when no batch ran (dry run)"
    )
    files: list[ArtefactFile] = Field(default_factory=list, description="every other file of the run, with its checksum")
    warnings: list[str] = Field(default_factory=list)
