"""The Engine interface: the factory, and what both engines refuse before they start anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal.engine import ENGINES, engine_for
from rehearsal.failures import CannotRun
from rehearsal.outcome import Ask, Listener

ROOT = Path(__file__).resolve().parents[2]


def _ask(**changes: object) -> Ask:
    fields: dict[str, object] = {
        "dist": ROOT / "dist",
        "canary_name": None,
        "scenario": "healthy",
        "canary_env": {},
        "speed": 10.0,
        "rate": None,
        "scrape_interval_s": 0.5,
        "primary_version": None,
        "canary_version": None,
        "values": None,
    }
    return Ask(**(fields | changes))  # type: ignore[arg-type]


def _listener(said: list[str]) -> Listener:
    def fail(*_: object) -> None:
        raise AssertionError("the engine went on after refusing")

    return Listener(
        check_outputs=lambda: None,
        describe=fail,
        announce=said.append,
        out=fail,
        report=fail,
    )


def test_the_factory_names_each_engine() -> None:
    assert [engine_for(name).name for name in ENGINES] == list(ENGINES)
    assert {engine_for(name).clock_word for name in ENGINES} == {"sim", "prod"}


def test_the_factory_refuses_an_unknown_engine() -> None:
    with pytest.raises(ValueError, match="no engine 'argo'"):
        engine_for("argo")


@pytest.mark.parametrize(
    ("engine", "changes", "message"),
    [
        ("model", {"values": Path("extra.yaml")}, "--values needs --engine flagger"),
        ("model", {"dist": ROOT / "no-such-dist"}, "no such directory"),
        ("flagger", {"rate": 5.0}, "--rate is the model engine's"),
        ("flagger", {"primary_version": "1.0.0"}, "--primary-version: on Flagger"),
    ],
)
def test_an_engine_refuses_before_it_starts(
    engine: str, changes: dict[str, object], message: str
) -> None:
    said: list[str] = []
    with pytest.raises(CannotRun, match=message):
        engine_for(engine).rehearse(_ask(**changes), _listener(said))
    assert said == []
