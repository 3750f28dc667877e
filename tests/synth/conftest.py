"""Fixtures of the synth tests: one synthesis of the default config per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.config import StackConfig, load_config
from synth.main import DEFAULT_VALUES, synthesize
from tests.support.synth_output import Synthesized, load_manifests


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A fresh synth of the default config (no ORDER_API_SRE_* from the caller's shell)."""
    out = tmp_path_factory.mktemp("synth") / "dist"
    synthesize(load_config(env={}), out)
    return Synthesized(outdir=out, _manifests=tuple(load_manifests(out)))


@pytest.fixture(scope="session")
def synthesized_from_values(
    synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh synth of the committed values.yaml, the source of dist/ (the
    defaults' synthesis when the file holds only defaults)."""
    config = load_config(env={}, values_file=DEFAULT_VALUES)
    if config == StackConfig():
        return synthesized.outdir
    out = tmp_path_factory.mktemp("synth-values") / "dist"
    synthesize(config, out)
    return out
