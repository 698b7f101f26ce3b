"""The offline mock judge. It is NOT a language model.

Profiles, chosen by model id (both listed in the manifest):
- `mock-heuristic-v1` (the demo's judge): reads the same prompt a model would, scores each essay
  from surface features of its text (length, vocabulary range, word and sentence length,
  paragraphing, a few learner-error markers) and picks the higher score, with deterministic
  noise. It knows nothing about content or argument: its rankings only roughly follow quality.
- `mock-simulated-v1` (for benchmarks): the caller gives each essay's latent quality in the
  request metadata (`simulated_quality_a`, `simulated_quality_b`); the verdict is drawn from a
  Bradley–Terry model with a position bias and lapses (`LLM_MOCK_BEHAVIOUR`).

Fault injection (`LLM_MOCK_BEHAVIOUR`, any profile): latency with jitter, 500s, 429s with a
Retry-After, malformed answers and timeouts, each drawn per attempt.

Determinism: every draw comes from sha256 of its inputs (seed, texts or request id, attempt),
never Python's `hash()`, so the same inputs give the same verdict in every process. Answers go
through the same validation and accounting as the real providers' (its prices are the manifest's).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from django.conf import settings

from llmgateway.prompts import Prompt
from llmgateway.providers.base import BatchItemOutcome, BatchJobStatus, CallContext, ProviderError, ProviderReply
from llmgateway.schemas import LLMConfigOverrides, ManifestModel, MockBehaviour, Usage

_ESSAY = re.compile(r"<<<ESSAY (?P<label>[AB]) (?P<nonce>\w+)>>>\n(?P<text>.*?)\n<<<END ESSAY (?P=label) (?P=nonce)>>>", re.S)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SENTENCE_END = re.compile(r"[.!?]+")
_LEARNER_ERRORS = re.compile(r"(\bi\b|\bdont\b|\bcant\b|\bwont\b|\balot\b|\bbecouse\b|\bthey was\b|\bhe have\b|\bshe have\b)")
SIMULATED_MODEL = "mock-simulated-v1"
# Logit per unit of heuristic quality difference. On the shipped sample, adjacent grades differ by
# about 0.3 to 0.5 units, so the judge prefers the better of two neighbouring essays 70–80% of the time.
HEURISTIC_SHARPNESS = 3.0


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


def _uniform(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def mock_behaviour() -> MockBehaviour:
    value = settings.LLM_MOCK_BEHAVIOUR
    return value if isinstance(value, MockBehaviour) else MockBehaviour.model_validate(value)


class MockProvider:
    name: ClassVar[str] = "mock"

    def canonical_request(self, prompt: Prompt, *, model: ManifestModel, overrides: LLMConfigOverrides) -> dict[str, Any]:
        return {
            "model": model.id,
            "system": prompt.system,
            "blocks": [{"kind": b.kind, "text": b.text} for b in prompt.blocks],
            "temperature": overrides.temperature_override,
            "max_tokens": overrides.max_tokens_override,
            "answer_schema": "comparison_result/v1",
        }

    def compare(self, request: dict[str, Any], *, context: CallContext) -> ProviderReply:
        behaviour = mock_behaviour()
        self._inject_faults(behaviour, context)
        user_text = "\n\n".join(block["text"] for block in request["blocks"])
        essays = {m["label"]: m["text"] for m in _ESSAY.finditer(user_text)}
        if set(essays) != {"A", "B"}:
            raise ProviderError("bad_request", "the prompt does not hold both essays", retryable=False)
        if request["model"] == SIMULATED_MODEL:
            winner, p_winner, why = self._simulated(behaviour, context)
        else:
            winner, p_winner, why = self._heuristic(request["model"], essays)
        confidence = min(5, max(1, 1 + int((p_winner - 0.5) * 10)))
        answer: dict[str, Any] = {"winner": winner, "justification": why, "confidence": confidence}
        if _uniform(settings.LLM_MOCK_SEED, "malformed", context.request_id, context.attempt) < behaviour.malformed_rate:
            answer = {"justification": why, "confidence": confidence}  # no winner: an invalid answer
        prompt_chars = len(request["system"]) + len(user_text)
        usage = Usage(input_tokens=prompt_chars // 4, output_tokens=len(why) // 4 + 10)
        return ProviderReply(answer=answer, raw={"tool": "comparison_result", "input": answer}, usage=usage)

    @staticmethod
    def _inject_faults(behaviour: MockBehaviour, context: CallContext) -> None:
        seed = settings.LLM_MOCK_SEED
        latency = behaviour.latency_ms
        if behaviour.latency_jitter_ms:
            latency += (2 * _uniform(seed, "latency", context.request_id, context.attempt) - 1) * behaviour.latency_jitter_ms
        if latency > 0:
            time.sleep(latency / 1000)  # stands in for network I/O: the calling thread waits, as on a socket
        u = _uniform(seed, "fault", context.request_id, context.attempt)
        if u < behaviour.timeout_rate:
            raise ProviderError("timeout", "injected timeout", retryable=True)
        u -= behaviour.timeout_rate
        if u < behaviour.rate_limit_rate:
            raise ProviderError("rate_limited", "injected 429", retryable=True, retry_after=behaviour.retry_after_s)
        u -= behaviour.rate_limit_rate
        if u < behaviour.error_rate:
            raise ProviderError("server_error", "injected HTTP 500", retryable=True)

    @staticmethod
    def _heuristic(model: str, essays: dict[str, str]) -> tuple[str, float, str]:
        margin = text_quality(essays["A"]) - text_quality(essays["B"])
        p_a = 1.0 / (1.0 + math.exp(-HEURISTIC_SHARPNESS * margin))
        u = _uniform(settings.LLM_MOCK_SEED, model, essays["A"], essays["B"])
        winner = "A" if u < p_a else "B"
        p_winner = p_a if winner == "A" else 1.0 - p_a
        why = (
            f"Offline heuristic judge (not an LLM): Essay {winner} scores higher on surface features "
            f"(length, vocabulary range, sentence and paragraph structure); estimated P={p_winner:.2f}."
        )
        return winner, p_winner, why

    @staticmethod
    def _simulated(behaviour: MockBehaviour, context: CallContext) -> tuple[str, float, str]:
        try:
            quality_a = float(context.metadata["simulated_quality_a"])
            quality_b = float(context.metadata["simulated_quality_b"])
        except (KeyError, TypeError, ValueError):
            raise ProviderError(
                "bad_request",
                "the simulated mock needs numeric simulated_quality_a and simulated_quality_b in the request metadata",
                retryable=False,
            ) from None
        logit = (quality_a - quality_b) / behaviour.noise_scale + behaviour.position_bias
        p_a = behaviour.lapse_rate / 2 + (1 - behaviour.lapse_rate) / (1.0 + math.exp(-logit))
        winner = "A" if _uniform(settings.LLM_MOCK_SEED, "simulated", context.request_id) < p_a else "B"
        p_winner = p_a if winner == "A" else 1.0 - p_a
        return winner, p_winner, f"Simulated judge (not an LLM): Essay {winner}; P={p_winner:.2f}."

    # --- A simulated batch API: the job ends at once; results are computed when read. --------

    def batch_submit(self, items: list[tuple[str, dict[str, Any]]]) -> str:
        digest = hashlib.sha256("\x1f".join(cid for cid, _ in items).encode()).hexdigest()[:16]
        return f"mockbatch_{digest}"

    def batch_status(self, job_id: str) -> BatchJobStatus:
        return "ended"

    def batch_results(
        self, job_id: str, *, requests: dict[str, tuple[dict[str, Any], CallContext]]
    ) -> Iterator[BatchItemOutcome]:
        for custom_id, (request, context) in requests.items():
            try:
                yield BatchItemOutcome(custom_id=custom_id, reply=self.compare(request, context=context))
            except ProviderError as exc:
                yield BatchItemOutcome(custom_id=custom_id, error=exc)
