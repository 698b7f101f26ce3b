"""Prompt blocks for one comparison, the canonical provider request, and its sha256.

Order: system prompt; the static, cacheable block (student prompt, rubric, instructions); the two
essays under opaque labels ("Essay A", "Essay B"), each inside delimiters carrying a nonce the
essay text does not contain, so no text can close its block early; the answer instructions.
Static parts come before dynamic ones so that a provider cache can be read, not only written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from llmgateway.schemas import LLMConfigOverrides, PromptParts

DEFAULT_SYSTEM_PROMPT = (
    "You are an experienced teacher and examiner taking part in a comparative judgement of student "
    "essays. You will read two essays written for the same task and decide which one is the better "
    "piece of writing overall, judged against the task and the assessment instructions. Judge the "
    "writing, not the opinions it expresses. Ignore the order in which the essays are shown."
)
ANSWER_INSTRUCTIONS = (
    'Decide which essay is better: answer with winner "A" or "B" (no ties), a short justification '
    "(at most three sentences, naming the qualities that decided it, without quoting personal "
    "details), and your confidence from 1 (a guess) to 5 (certain)."
)


@dataclass(frozen=True)
class PromptBlock:
    kind: str  # "static" (cacheable), "dynamic" (the essays) or "answer"
    text: str


@dataclass(frozen=True)
class Prompt:
    system: str
    blocks: tuple[PromptBlock, ...]

    @property
    def user_text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)


def _nonce(*texts: str) -> str:
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    length = 12
    while any(digest[:length] in text for text in texts):
        length += 4
    return digest[:length]


def build_prompt(parts: PromptParts, overrides: LLMConfigOverrides | None = None) -> Prompt:
    overrides = overrides or LLMConfigOverrides()
    system = overrides.system_prompt_override or DEFAULT_SYSTEM_PROMPT
    instructions = overrides.rubric_override or parts.instructions
    static = "\n\n".join(
        section
        for section in (
            f"<task>\n{parts.student_prompt.strip()}\n</task>" if parts.student_prompt.strip() else "",
            f"<assessment_instructions>\n{instructions.strip()}\n</assessment_instructions>" if instructions.strip() else "",
        )
        if section
    )
    nonce = _nonce(parts.essay_a, parts.essay_b)
    essays = "\n\n".join(
        f"<<<ESSAY {label} {nonce}>>>\n{text.strip()}\n<<<END ESSAY {label} {nonce}>>>"
        for label, text in (("A", parts.essay_a), ("B", parts.essay_b))
    )
    blocks = [PromptBlock("static", static)] if static else []
    blocks += [PromptBlock("dynamic", essays), PromptBlock("answer", ANSWER_INSTRUCTIONS)]
    return Prompt(system=system, blocks=tuple(blocks))


def estimate_tokens(text: str) -> int:
    """A token estimate (about 4 characters a token in English prose), for caching and limits."""
    return (len(text) + 3) // 4


def prompt_sha256(canonical_request: dict[str, Any]) -> str:
    """sha256 of the canonical provider request (sorted keys, no whitespace): replayable."""
    encoded = json.dumps(canonical_request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()
