"""The offline mock judge. It is NOT a language model.

Profile `heuristic` (the demo's judge): it reads the same prompt a model would, scores each essay
from surface features of its text (length, vocabulary range, word and sentence length, paragraphing,
a few learner-error markers) and picks the higher score, with deterministic noise. It knows
nothing about content or argument, so its rankings only roughly follow essay quality.

Determinism: noise comes from sha256 of (seed, both texts, their order), never Python's `hash()`,
so the same inputs give the same verdict in every process.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any, ClassVar

from django.conf import settings

from llmgateway.prompts import Prompt
from llmgateway.providers.base import ProviderError, ProviderReply
from llmgateway.schemas import LLMConfigOverrides, Usage

_ESSAY = re.compile(r"<<<ESSAY (?P<label>[AB]) (?P<nonce>\w+)>>>\n(?P<text>.*?)\n<<<END ESSAY (?P=label) (?P=nonce)>>>", re.S)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SENTENCE_END = re.compile(r"[.!?]+")
_LEARNER_ERRORS = re.compile(r"(\bi\b|\bdont\b|\bcant\b|\bwont\b|\balot\b|\bbecouse\b|\bthey was\b|\bhe have\b|\bshe have\b)")


def text_quality(text: str) -> float:
    """A surface-feature quality score (higher is better); a heuristic, not a judgement of content."""
    words = _WORD.findall(text)
    n_words = len(words)
    if n_words == 0:
        return -10.0
    lower = [w.lower() for w in words]
    # Type-token ratio on the first 150 words, so that length does not drive vocabulary range.
    head = lower[:150]
    vocabulary = len(set(head)) / len(head)
    mean_word_length = sum(len(w) for w in words) / n_words
    long_words = sum(len(w) >= 7 for w in words) / n_words
    sentences = max(1, len([s for s in _SENTENCE_END.split(text) if s.strip()]))
    sentence_length = n_words / sentences
    paragraphs = max(1, len([p for p in re.split(r"\n\s*\n", text) if p.strip()]))
    errors = len(_LEARNER_ERRORS.findall(text)) / n_words
    return (
        1.1 * math.log(n_words)
        + 3.0 * vocabulary
        + 0.8 * (mean_word_length - 4.0)
        + 3.0 * long_words
        - 0.04 * abs(sentence_length - 17.0)
        + 0.35 * math.log(paragraphs)
        - 25.0 * errors
    )


def _uniform(*parts: str) -> float:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class MockProvider:
    name: ClassVar[str] = "mock"
    default_model: ClassVar[str] = "mock-heuristic-v1"
    models: ClassVar[tuple[str, ...]] = ("mock-heuristic-v1",)

    def canonical_request(self, prompt: Prompt, *, model: str, overrides: LLMConfigOverrides) -> dict[str, Any]:
        return {
            "provider": self.name,
            "model": model,
            "system": prompt.system,
            "blocks": [{"kind": b.kind, "text": b.text} for b in prompt.blocks],
            "temperature": overrides.temperature_override,
            "max_tokens": overrides.max_tokens_override,
            "answer_schema": "comparison_result/v1",
        }

    def compare(self, request: dict[str, Any], *, metadata: dict[str, Any]) -> ProviderReply:
        user_text = "\n\n".join(block["text"] for block in request["blocks"])
        essays = {m["label"]: m["text"] for m in _ESSAY.finditer(user_text)}
        if set(essays) != {"A", "B"}:
            raise ProviderError("bad_request", "the prompt does not hold both essays", retryable=False)
        margin = text_quality(essays["A"]) - text_quality(essays["B"])
        p_a = 1.0 / (1.0 + math.exp(-1.5 * margin))
        u = _uniform(settings.LLM_MOCK_SEED, request["model"], essays["A"], essays["B"])
        winner = "A" if u < p_a else "B"
        p_winner = p_a if winner == "A" else 1.0 - p_a
        confidence = min(5, max(1, 1 + int((p_winner - 0.5) * 10)))
        justification = (
            f"Offline heuristic judge (not an LLM): Essay {winner} scores higher on surface features "
            f"(length, vocabulary range, sentence and paragraph structure); estimated P={p_winner:.2f}."
        )
        answer = {"winner": winner, "justification": justification, "confidence": confidence}
        prompt_chars = len(request["system"]) + len(user_text)
        usage = Usage(input_tokens=prompt_chars // 4, output_tokens=len(justification) // 4 + 10)
        return ProviderReply(answer=answer, raw={"tool": "comparison_result", "input": answer}, usage=usage)
