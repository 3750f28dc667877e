"""The k3s profile on the local cluster: `values/k3s.yaml` brought up as k3s ships
(Traefik in kube-system from k3s's bundled chart values, the profile's
HelmChartConfig merged over them), its synthesized output applied unchanged;
an order through the bundled Traefik, then the real Flagger promotes a healthy
release and rolls back an erroring one.

One cluster for the module, brought up with the profile and always taken down
at the end; marked `own_cluster`, it runs before the shared cluster exists.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rehearsal.outcome import Outcome
from rehearsal.report.verdict import EXIT_PROMOTED, EXIT_ROLLED_BACK, verdict_of
from stack.config import VALUES_ENV, StackConfig, load_config
from stack.names import K3S_SYSTEM_NAMESPACE, app_names
from tests.cluster import inside
from tests.support.prerequisites import require_cluster_prerequisites

pytestmark = [pytest.mark.live, pytest.mark.own_cluster]
ROOT = Path(__file__).resolve().parents[2]
K3S_VALUES = ROOT / "values" / "k3s.yaml"
ERROR_RATE = "0.2"  # the `errors` scenario's fault, far above the 1 % gate


def say(line: str) -> None:
    print(line, file=sys.stderr)


@pytest.fixture(scope="module")
def k3s_cluster(figures: list[str]) -> Iterator[StackConfig]:
    """The cluster with the k3s profile; the engine reads the profile's values too."""
    from cluster import lifecycle
    from rehearsal.oncluster.flagger_engine import ensure_cluster

    require_cluster_prerequisites()
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(VALUES_ENV, str(K3S_VALUES))
        try:
            up_s = ensure_cluster(say, K3S_VALUES.resolve())
            figures.append(f"k3s profile: cluster up to Canary Initialized {up_s:.0f} s")
            yield load_config()
        finally:
            lifecycle.down(say)
            figures.append(f"k3s profile tier: {time.monotonic() - started:.0f} s")


def test_bundled_traefik_runs_in_kube_system_with_the_helm_chart_config(
    k3s_cluster: StackConfig,
) -> None:
    from cluster.client import get_json

    ingress = k3s_cluster.ingress
    assert k3s_cluster.monitoring.traefik_namespace == K3S_SYSTEM_NAMESPACE
    deployment = get_json("deployment", ingress.traefik_service, "-n", K3S_SYSTEM_NAMESPACE)
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    # k3s's own values, then the HelmChartConfig's buckets over Traefik's default ones.
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert "rancher/mirrored-library-traefik" in pod["containers"][0]["image"]
    buckets = ",".join(f"{b:g}" for b in ingress.traefik_latency_buckets)
    assert f"--metrics.prometheus.buckets={buckets}" in args
    assert "--metrics.prometheus.addServicesLabels=true" in args


def test_order_through_the_bundled_traefik(k3s_cluster: StackConfig) -> None:
    config = k3s_cluster
    response = inside.order_through_traefik(config)
    assert response.status == 201, response
    assert response.json()["item"] == "settings-test"


def _rehearse(error_rate: str | None) -> tuple[Outcome, float]:
    from rehearsal.oncluster.flagger_engine import FlaggerRun, rehearse_on_flagger

    env = {"ORDER_API_FAULT_ERROR_RATE": error_rate} if error_rate else {}
    started = time.monotonic()
    outcome = rehearse_on_flagger(
        FlaggerRun(scenario="healthy" if not error_rate else "errors", canary_env=env),
        scenario_env={},
        out=lambda record: say(f"  tick {record.tick}: {record.transition.after}"),
        announce=say,
    )
    return outcome, time.monotonic() - started


def test_flagger_promotes_a_healthy_release_in_the_k3s_profile(
    k3s_cluster: StackConfig, figures: list[str]
) -> None:
    outcome, wall = _rehearse(None)
    figures.append(f"k3s profile: healthy {verdict_of(outcome).word} in {wall:.0f} s")
    assert verdict_of(outcome).exit_code == EXIT_PROMOTED
    names = app_names(k3s_cluster)
    primary = f"{names.namespace}-{names.primary}-{k3s_cluster.app.service_port}"
    assert outcome.final_routes.get(primary) == 100, outcome.final_routes
    assert outcome.load_total.sent > 0 and outcome.load_total.failed == 0


def test_flagger_rolls_back_an_erroring_release_in_the_k3s_profile(
    k3s_cluster: StackConfig, figures: list[str]
) -> None:
    outcome, wall = _rehearse(ERROR_RATE)
    figures.append(f"k3s profile: errors {verdict_of(outcome).word} in {wall:.0f} s")
    assert verdict_of(outcome).exit_code == EXIT_ROLLED_BACK
    failed = [m for t in outcome.ticks for m in t.metrics if not m.passed]
    assert failed and failed[0].value is not None, failed
