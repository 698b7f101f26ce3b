"""The model manifest: the one source of model facts, prices and per-provider defaults.

`llmgateway/manifest.json` is validated by pydantic (`schemas.Manifest`) when the app starts
(`LlmgatewayConfig.ready`) and in a test; a broken manifest stops start-up naming the problem.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from cjproject.errors import InvalidInput
from llmgateway.schemas import Manifest, ManifestModel, Usage
from llmgateway.vocabulary import PROVIDERS

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
_MILLION = Decimal(1_000_000)


class ManifestError(RuntimeError):
    """The manifest file is missing or invalid."""


def manifest_load(path: Path = MANIFEST_PATH) -> Manifest:
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise ManifestError(f"{path.name} is invalid: {exc}") from None


@cache
def manifest() -> Manifest:
    return manifest_load()


def models_of(provider: str, *, include_deprecated: bool = True) -> list[ManifestModel]:
    return [m for m in manifest().models if m.provider == provider and (include_deprecated or not m.deprecated)]


def default_model(provider: str) -> ManifestModel:
    return next(m for m in models_of(provider) if m.default)


def model_get(*, provider: str, model: str, field: str = "llm_config_overrides.model_override") -> ManifestModel:
    """The manifest entry of a model; InvalidInput naming `field` and the valid ids otherwise."""
    if provider not in PROVIDERS:
        raise InvalidInput(
            "unknown provider",
            fields={"llm_config_overrides.provider_override": [f"{provider!r} is not a provider; valid: {', '.join(PROVIDERS)}"]},
        )
    for entry in models_of(provider):
        if entry.id == model:
            return entry
    valid = ", ".join(m.id for m in models_of(provider, include_deprecated=False))
    raise InvalidInput("unknown model", fields={field: [f"{model!r} is not a {provider} model; valid: {valid}"]})


def cost_usd(entry: ManifestModel, usage: Usage, *, batch: bool = False) -> Decimal:
    """Cost from the manifest's prices (per million tokens); batch mode takes the batch discount.

    `input_tokens` counts only input billed at the base rate: cache reads and writes are counted
    (and priced) apart. Reasoning tokens are part of `output_tokens`, as both providers bill them.
    """
    p = entry.prices
    total = (
        Decimal(usage.input_tokens) * Decimal(str(p.input))
        + Decimal(usage.output_tokens) * Decimal(str(p.output))
        + Decimal(usage.cache_write_tokens) * Decimal(str(p.cache_write))
        + Decimal(usage.cache_read_tokens) * Decimal(str(p.cache_read))
    ) / _MILLION
    if batch:
        total *= Decimal(1) - Decimal(str(p.batch_discount))
    return total.quantize(Decimal("0.000001"))
