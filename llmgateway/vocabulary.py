"""The gateway's words, each defined once: providers and batching modes (no Django, no pydantic).

Settings, models, contracts and services read them from here; `typing.get_args` turns each
`Literal` into the tuple code iterates over, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

ProviderName = Literal["anthropic", "openai", "openai_compatible", "mock"]
PROVIDERS: Final[tuple[str, ...]] = get_args(ProviderName)
# The offline mock judge: NOT a language model (it scores surface features of the text).
MOCK_PROVIDER: Final = "mock"

BatchingMode = Literal["per_request", "serial_bundle", "provider_batch_api"]
BATCHING_MODES: Final[tuple[str, ...]] = get_args(BatchingMode)
PER_REQUEST: Final = "per_request"
SERIAL_BUNDLE: Final = "serial_bundle"
PROVIDER_BATCH_API: Final = "provider_batch_api"
