"""Fixtures for the LLM client tests: a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from luxit_ray.config.llm import EndpointConfig
from tests.openai_server import Server, start_server


@pytest.fixture
def openai_server() -> Iterator[Server]:
    """A fresh server answering ``Reply()`` ("ok") until a test sets its script."""
    srv = start_server()
    yield srv
    srv.stop()


@pytest.fixture
def endpoint(openai_server: Server) -> Callable[..., EndpointConfig]:
    """Build an EndpointConfig for the server; keyword arguments override fields
    (fast backoff by default so retry tests stay short)."""

    def make(**overrides: Any) -> EndpointConfig:
        fields: dict[str, Any] = {
            "base_url": openai_server.base_url,
            "model": "test-model",
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            "max_retries": 3,
            "timeout_s": 10.0,
        }
        fields.update(overrides)
        return EndpointConfig(**fields)

    return make

