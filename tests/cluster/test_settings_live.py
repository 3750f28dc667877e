"""The cluster knows the app only through the settings: `python -m cluster up
--values` with the snapshot tests' `shop` settings (another namespace, host and
app name) reaches Canary Initialized and serves an order through Traefik.

Marked `own_cluster`: it brings up a cluster of its own, before the shared one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster import lifecycle
from cluster.client import get_json
from cluster.profile import running_values_file
from stack.config import ENV_PREFIX, load_config
from tests.cluster import inside
from tests.cluster.traces import assert_no_trace
from tests.support.prerequisites import require_cluster_prerequisites
from tests.support.stack_variants import CONFIGS

pytestmark = [pytest.mark.live, pytest.mark.own_cluster]
ROOT = Path(__file__).resolve().parents[2]


def values_of(overrides: dict[str, str]) -> dict[str, Any]:
    """ORDER_API_SRE_<SECTION>__<FIELD> overrides as the nested values file they stand for."""
    values: dict[str, Any] = {}
    for name, raw in overrides.items():
        *sections, key = name.removeprefix(ENV_PREFIX).lower().split("__")
        target = values
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = raw
    return values


@pytest.fixture
def shop_values(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(values_of(CONFIGS["shop"])))
    return path


def test_shop_settings_reach_initialized_and_serve_an_order(shop_values: Path) -> None:
    require_cluster_prerequisites()
    config = load_config(env={}, values_file=shop_values)
    assert (config.namespace, config.app.name) == ("shop", "shop-api")
    started = time.monotonic()
    try:
        up = subprocess.run(
            [sys.executable, "-m", "cluster", "up", "--values", str(shop_values)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=420,
        )
        print(up.stdout, file=sys.stderr)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Canary shop/shop-api Initialized" in up.stdout
        canary = get_json("canary", "shop-api", "-n", "shop")
        assert canary["status"]["phase"] == "Initialized"
        assert running_values_file() == shop_values.resolve()
        response = inside.order_through_traefik(config)
        assert response.status == 201, response
        assert response.json()["item"] == "settings-test"
        # Nothing of the default names was created.
        namespaces = {item["metadata"]["name"] for item in get_json("namespace")["items"]}
        assert "shop" in namespaces and "sre-demo" not in namespaces
    finally:
        lifecycle.down(say=lambda _line: None)
        print(f"shop settings: {time.monotonic() - started:.1f} s", file=sys.stderr)
    assert_no_trace()
