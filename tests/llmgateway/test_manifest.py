"""The model manifest: valid, one default per provider, the only source of defaults and prices."""

import json
from decimal import Decimal

import pytest

from llmgateway import manifest as manifest_module
from llmgateway.manifest import ManifestError, cost_usd, default_model, manifest, manifest_load, model_get
from llmgateway.schemas import Usage
from llmgateway.vocabulary import PROVIDERS


def test_the_shipped_manifest_is_valid_with_one_default_per_provider():
    loaded = manifest_load()
    assert {m.provider for m in loaded.models} == set(PROVIDERS)
    for provider in PROVIDERS:
        assert sum(m.default for m in loaded.models if m.provider == provider) == 1
        assert not default_model(provider).deprecated


def _write(tmp_path, mutate):
    data = json.loads(manifest_module.MANIFEST_PATH.read_text())
    mutate(data)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_a_second_default_for_a_provider_is_refused_naming_it(tmp_path):
    def two_defaults(data):
        for m in data["models"]:
            if m["provider"] == "openai":
                m["default"] = True

    with pytest.raises(ManifestError, match="provider 'openai' needs exactly one default model"):
        manifest_load(_write(tmp_path, two_defaults))


def test_prompt_caching_without_a_minimum_prefix_is_refused(tmp_path):
    def no_minimum(data):
        data["models"][0]["capabilities"]["min_cacheable_tokens"] = 0

    with pytest.raises(ManifestError, match="min_cacheable_tokens"):
        manifest_load(_write(tmp_path, no_minimum))


def test_defaults_come_from_the_manifest(settings):
    from llmgateway.services import provider_resolve

    settings.LLM_CREDENTIALS = {**settings.LLM_CREDENTIALS, "openai": {"api_key": "k", "base_url": ""}}
    from llmgateway.schemas import LLMConfigOverrides

    _, model = provider_resolve(overrides=LLMConfigOverrides(provider_override="openai"))
    assert model == next(m.id for m in manifest().models if m.provider == "openai" and m.default)


def test_cost_uses_the_manifest_prices_and_the_batch_discount():
    entry = model_get(provider="anthropic", model="claude-sonnet-4-6")
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=1_000_000, cache_write_tokens=0)
    assert cost_usd(entry, usage) == Decimal("4.800000")  # 3.00 + 1.50 + 0.30
    assert cost_usd(entry, usage, batch=True) == Decimal("2.400000")
