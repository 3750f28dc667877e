"""Fixtures of the dashboards tests."""

from __future__ import annotations

import pytest

from stack.config import StackConfig, load_config


@pytest.fixture(scope="session")
def config() -> StackConfig:
    """The defaults, whatever the caller's environment overrides."""
    return load_config(env={})
