"""Fixtures of the synth tests: one synthesis of the default config per session."""

from __future__ import annotations

import pytest

from stack.config import load_config
from synth.main import synthesize
from tests.support.synth_output import Synthesized, load_manifests


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A fresh synth of the default config (no ORDER_API_SRE_* from the caller's shell)."""
    out = tmp_path_factory.mktemp("synth") / "dist"
    synthesize(load_config(env={}), out)
    return Synthesized(outdir=out, _manifests=tuple(load_manifests(out)))
