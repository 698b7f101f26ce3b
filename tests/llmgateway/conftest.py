"""Gateway fixtures: a clean shared Redis state, configured providers, fake provider servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmgateway.providers import anthropic as anthropic_adapter
from llmgateway.providers import openai as openai_adapter
from llmgateway.store import KEY_PREFIX, shared_redis
from tests.llmgateway.fakeserver import FakeServer

STRONG = (
    "The most convincing role models are rarely the loudest people in a room.\n\n"
    "They persuade by example: patiently, consistently, and without expecting recognition, which is "
    "precisely why their influence lasts longer than any fashionable celebrity's."
)
WEAK = "i like my coach he is nice and he help me alot"


@pytest.fixture(autouse=True)
def _clean_gateway_state(settings) -> Iterator[None]:
    """Breakers, buckets and metrics live in Redis: every test starts from nothing."""
    settings.LLM_MOCK_BEHAVIOUR = {}
    client = shared_redis()

    def wipe() -> None:
        if client is not None:
            keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=500))
            if keys:
                client.delete(*keys)

    wipe()
    yield
    wipe()


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def anthropic_server(fake_server: FakeServer, settings) -> FakeServer:
    settings.LLM_CREDENTIALS = {
        **settings.LLM_CREDENTIALS,
        "anthropic": {"api_key": "sk-ant-test-secret", "base_url": fake_server.url},
    }
    anthropic_adapter._client.cache_clear()
    return fake_server


@pytest.fixture
def openai_server(fake_server: FakeServer, settings) -> FakeServer:
    settings.LLM_CREDENTIALS = {
        **settings.LLM_CREDENTIALS,
        "openai": {"api_key": "sk-openai-test-secret", "base_url": fake_server.url + "/v1"},
        "openai_compatible": {"api_key": "", "base_url": fake_server.url + "/v1"},
    }
    openai_adapter._client.cache_clear()
    return fake_server
