"""Provider adapters behind one interface (`providers.base.Provider`) and the registry that picks one.

The registry is the one place that knows which adapter serves a provider and what configures it:
`provider_get`, `provider_configured`, `provider_missing_setting`.
"""

from __future__ import annotations

from django.conf import settings

from llmgateway.providers.anthropic import AnthropicProvider
from llmgateway.providers.base import Provider
from llmgateway.providers.mock import MockProvider
from llmgateway.providers.openai import OpenAICompatibleProvider, OpenAIProvider
from llmgateway.vocabulary import PROVIDERS

PROVIDER_CLASSES: dict[str, type[Provider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "openai_compatible": OpenAICompatibleProvider,
    "mock": MockProvider,
}
assert set(PROVIDER_CLASSES) == set(PROVIDERS), "every provider has one adapter"

# What a provider needs before it can be called: (key in LLM_CREDENTIALS, environment variable).
# The mock needs nothing.
_REQUIRED_SETTING: dict[str, tuple[str, str]] = {
    "anthropic": ("api_key", "ANTHROPIC_API_KEY"),
    "openai": ("api_key", "OPENAI_API_KEY"),
    "openai_compatible": ("base_url", "OPENAI_COMPATIBLE_BASE_URL"),
}


def provider_get(name: str) -> Provider:
    """A fresh adapter for the provider `name` (one of `vocabulary.PROVIDERS`)."""
    return PROVIDER_CLASSES[name]()


def provider_missing_setting(name: str) -> str | None:
    """The environment variable the provider still needs on this server; None when it is configured."""
    if name not in _REQUIRED_SETTING:
        return None
    credential, variable = _REQUIRED_SETTING[name]
    return None if settings.LLM_CREDENTIALS[name][credential] else variable


def provider_configured(name: str) -> bool:
    """True when the provider can be called on this server (the mock always can)."""
    return provider_missing_setting(name) is None
