"""Built-in scenarios: what the canary is started with, and the verdict expected."""

from __future__ import annotations

from dataclasses import dataclass, field

from order_api.settings import ENV_FAULT_DELAY_MS, ENV_FAULT_ERROR_RATE


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    description: str
    canary_env: dict[str, str] = field(default_factory=dict)
    expect_promoted: bool


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="healthy",
            description="the canary behaves like the primary: promoted",
            expect_promoted=True,
        ),
        Scenario(
            name="errors",
            description="the canary answers 500 on 20% of orders: rolled back",
            canary_env={ENV_FAULT_ERROR_RATE: "0.2"},
            expect_promoted=False,
        ),
        Scenario(
            name="latency",
            description="the canary adds 700 ms to every order: rolled back",
            canary_env={ENV_FAULT_DELAY_MS: "700"},
            expect_promoted=False,
        ),
    )
}
