"""The typed stack configuration: defaults, values file, environment, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.config import VALUES_ENV, ConfigError, StackConfig, load_config


def test_defaults_without_overrides() -> None:
    config = load_config(env={})
    assert config == StackConfig()
    assert config.namespace == "sre-demo"
    assert config.prometheus_url == "http://prometheus-service.sre-demo:9090"
    assert config.app.image == "order-api:1.0.0"


def test_grace_period_covers_shutdown_delay_and_drain() -> None:
    app = load_config(env={}).app
    assert app.termination_grace_s > app.shutdown_delay_s + app.drain_timeout_s


def test_environment_overrides_nested_fields() -> None:
    config = load_config(
        env={
            "ORDER_API_SRE_APP__IMAGE_TAG": "1.1.0",
            "ORDER_API_SRE_CANARY__MAX_WEIGHT": "30",
            "ORDER_API_SRE_CANARY__SUCCESS_RATE_MIN_PERCENT": "98",
            "UNRELATED": "x",
        }
    )
    assert config.app.image == "order-api:1.1.0"
    assert config.canary.max_weight == 30
    assert config.canary.success_rate_min_percent == 98.0


def test_values_file_then_environment(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("namespace: shop\ncanary:\n  step_weight: 20\n  max_weight: 60\n")
    config = load_config(env={VALUES_ENV: str(values), "ORDER_API_SRE_CANARY__MAX_WEIGHT": "40"})
    assert config.namespace == "shop"
    assert config.prometheus_url == "http://prometheus-service.shop:9090"
    assert config.canary.step_weight == 20
    assert config.canary.max_weight == 40  # the environment wins over the file


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDER_API_SRE_CANARY__MAX_WEIGHTS": "30"}, "canary.max_weights: unknown setting"),
        ({"ORDER_API_SRE_CANARY__MAX_WEIGHT": "true"}, "canary.max_weight: expected int"),
        ({"ORDER_API_SRE_CANARY__MAX_WEIGHT": "1.5"}, "canary.max_weight: expected int"),
        ({"ORDER_API_SRE_APP": "x"}, "app: expected a mapping"),
    ],
)
def test_bad_environment_values_name_the_field(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


def test_bad_values_file_names_the_file(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("canary: [unclosed\n")
    with pytest.raises(ConfigError, match=r"values\.yaml: cannot read values file"):
        load_config(env={VALUES_ENV: str(values)})
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read values file"):
        load_config(env={VALUES_ENV: str(tmp_path / "missing.yaml")})
