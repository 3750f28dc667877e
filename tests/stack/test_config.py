"""The typed stack configuration: defaults, values file, environment, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.config import NON_SETTING_ENV, VALUES_ENV, ConfigError, StackConfig, load_config


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
        (
            {"ORDER_API_SRE_CANARY__MAX_WEIGHTS": "30"},
            "canary.max_weights: unknown setting, did you mean `max_weight`?",
        ),
        (
            {"ORDER_API_SRE_CANARY__STEP_WIEGHT": "5"},
            "canary.step_wieght: unknown setting, did you mean `step_weight`?",
        ),
        (
            {"ORDER_API_SRE_CANARY__ZZZ": "5"},
            r"canary.zzz: unknown setting, known: error_rate_max_percent, interval_s, ",
        ),
        # Keys that moved into the nested resources point to their new place.
        ({"ORDER_API_SRE_APP__CPU_REQUEST": "1"}, "did you mean `resources.cpu_request`?"),
        (
            {"ORDER_API_SRE_MONITORING__GRAFANA_MEMORY_LIMIT": "1Gi"},
            "did you mean `grafana_resources.memory_limit`?",
        ),
        ({"ORDER_API_SRE_CANARY__STEP_WEIGHTS": "5,x"}, r"canary.step_weights\[1\]: expected int"),
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


def test_an_empty_variable_means_unset() -> None:
    """As in the service: `ORDER_API_SRE_CANARY__MAX_WEIGHT=` keeps the default."""
    config = load_config(env={"ORDER_API_SRE_CANARY__MAX_WEIGHT": "", VALUES_ENV: ""})
    assert config == StackConfig()


def test_resources_are_one_nested_type() -> None:
    config = load_config(
        env={
            "ORDER_API_SRE_APP__RESOURCES__CPU_LIMIT": "2",
            "ORDER_API_SRE_MONITORING__GRAFANA_RESOURCES__MEMORY_LIMIT": "1Gi",
        }
    )
    assert config.app.resources.cpu_limit == "2"
    assert config.app.resources.cpu_request == StackConfig().app.resources.cpu_request
    assert config.monitoring.grafana_resources.memory_limit == "1Gi"
    assert config.monitoring.prometheus_resources == StackConfig().monitoring.prometheus_resources


def test_step_weights_from_a_file_or_the_environment(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("canary:\n  step_weights: [5, 10, 25]\n")
    assert load_config(env={VALUES_ENV: str(values)}).canary.weights == (5, 10, 25)
    env = {"ORDER_API_SRE_CANARY__STEP_WEIGHTS": "[5, 10, 25]"}
    assert load_config(env=env).canary.effective_max_weight == 25
    # Without step weights: Flagger steps past the max weight (capped at 100 only).
    env = {"ORDER_API_SRE_CANARY__MAX_WEIGHT": "55", "ORDER_API_SRE_CANARY__STEP_WEIGHT": "20"}
    assert load_config(env=env).canary.weights == (20, 40, 60)
    env = {"ORDER_API_SRE_CANARY__MAX_WEIGHT": "90", "ORDER_API_SRE_CANARY__STEP_WEIGHT": "40"}
    assert load_config(env=env).canary.weights == (40, 80, 100)


def test_the_other_packages_variables_are_not_settings() -> None:
    from cluster.layout import RUN_DIR_ENV
    from toolchain.cache import CACHE_ENV

    assert {CACHE_ENV, RUN_DIR_ENV} <= NON_SETTING_ENV
    env = {CACHE_ENV: "/c", RUN_DIR_ENV: "/r", "ORDER_API_SRE_CANARY__MAX_WEIGHT": "30"}
    assert load_config(env=env).canary.max_weight == 30
    with pytest.raises(ConfigError, match="cache_dir: unknown setting"):
        load_config(env={"ORDER_API_SRE_CACHE_DIR": "/c"})  # a near miss is still caught
