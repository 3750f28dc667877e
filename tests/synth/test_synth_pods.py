"""Every pod: restricted Pod Security Standard, resources, probes, pinned images."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from order_api import __main__ as order_api_main
from stack.config import ConfigError, StackConfig, load_config
from stack.names import app_names
from stack.validation import check_config, quantity
from synth.main import build_app
from tests.support.synth_output import Synthesized

CONFIG = load_config(env={})
NAMES = app_names(CONFIG)
# Volume types the restricted profile allows.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
# Every workload dist/ holds (a test checks the list is complete).
WORKLOADS = [NAMES.name, "flagger-loadtester", "prometheus", "alertmanager", "grafana"]


def _pod(synthesized: Synthesized, name: str) -> dict[str, Any]:
    return synthesized.one("Deployment", name)["spec"]["template"]["spec"]


def test_the_workload_list_is_complete(synthesized: Synthesized) -> None:
    assert sorted(owner.name for owner, _ in synthesized.pod_templates()) == sorted(WORKLOADS)


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("initContainers", []) + pod["containers"]


def _effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A container setting, falling back to the pod-level security context."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.get("securityContext", {}).get(key)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_pod_meets_the_restricted_pod_security_standard(
    workload: str, synthesized: Synthesized
) -> None:
    pod = _pod(synthesized, workload)
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert pod.get(key) is not True, key
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        assert kinds <= RESTRICTED_VOLUMES, f"{volume['name']}: {kinds}"
    assert "sysctls" not in pod.get("securityContext", {})
    for c in _containers(pod):
        sc = c.get("securityContext", {})
        where = f"{f'Deployment/{workload}'} container {c['name']}"
        assert sc.get("privileged") is not True, where
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
        assert set(sc.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}, where
        assert _effective(pod, c, "runAsNonRoot") is True, where
        assert _effective(pod, c, "runAsUser") not in (0, None), f"{where}: numeric non-root UID"
        seccomp = _effective(pod, c, "seccompProfile") or {}
        assert seccomp.get("type") in {"RuntimeDefault", "Localhost"}, where
        assert all("hostPort" not in p for p in c.get("ports", [])), where
        assert sc.get("readOnlyRootFilesystem") is True, where


@pytest.mark.parametrize("workload", WORKLOADS)
def test_containers_have_resources_probes_and_pinned_images(
    workload: str, synthesized: Synthesized
) -> None:
    pod = _pod(synthesized, workload)
    for c in pod["containers"]:
        where = f"{f'Deployment/{workload}'} container {c['name']}"
        for side in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c.get("resources", {}).get(side, {})), (where, side)
        assert "livenessProbe" in c and "readinessProbe" in c, where
        repository, _, tag = c["image"].rpartition(":")
        assert repository and "/" not in tag and tag not in {"", "latest"}, (where, c["image"])


def test_order_api_deployment_as_the_issue_lists(synthesized: Synthesized) -> None:
    deployment = synthesized.one("Deployment", NAMES.name)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    app = CONFIG.app
    assert "replicas" not in spec, "the HPA owns replicas"
    assert spec["selector"] == {"matchLabels": {"app": NAMES.name}}
    assert spec["template"]["metadata"]["labels"]["app"] == NAMES.name
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["progressDeadlineSeconds"] == app.progress_deadline_s
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert container["image"] == app.image
    assert pod["terminationGracePeriodSeconds"] > app.shutdown_delay_s + app.drain_timeout_s
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "ORDER_API_VERSION": app.image_tag,
        "ORDER_API_SHUTDOWN_DELAY_S": str(app.shutdown_delay_s),
        "ORDER_API_DRAIN_TIMEOUT_S": str(app.drain_timeout_s),
    }
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(app.container_port),
        "prometheus.io/path": "/api/metrics",
    }
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert synthesized.one("ServiceAccount", NAMES.name)["automountServiceAccountToken"] is False


def test_hpa_scales_on_cpu_and_pdb_covers_both_tracks(synthesized: Synthesized) -> None:
    hpa = synthesized.one("HorizontalPodAutoscaler", NAMES.name)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (
        CONFIG.app.min_replicas,
        CONFIG.app.max_replicas,
    )
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    pdb = synthesized.one("PodDisruptionBudget", NAMES.name)["spec"]
    (expr,) = pdb["selector"]["matchExpressions"]
    assert (expr["key"], expr["operator"], set(expr["values"])) == (
        "app",
        "In",
        {NAMES.name, NAMES.primary},
    )


def test_namespace_enforces_restricted(synthesized: Synthesized) -> None:
    labels = synthesized.one("Namespace", CONFIG.namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_order_api_listens_on_the_configured_port(tmp_path: Path) -> None:
    """The process gets --host/--port: the image's CMD would keep port 8080."""
    config = load_config(env={"ORDER_API_SRE_APP__CONTAINER_PORT": "9000"})
    objects = [o for o in yaml.safe_load_all(build_app(config, tmp_path).synth_yaml()) if o]
    (deployment,) = [o for o in objects if (o["kind"], o["metadata"]["name"]) == (
        "Deployment", NAMES.name)]  # fmt: skip
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert container["args"] == ["--host", "0.0.0.0", "--port", "9000"]
    assert [p["containerPort"] for p in container["ports"]] == [9000]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == 9000, probe
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "9000"
    (canary,) = [o for o in objects if o["kind"] == "Canary"]
    assert canary["spec"]["service"]["targetPort"] == 9000


def test_order_api_args_are_what_the_cli_accepts() -> None:
    """The synthesized args parse with the service's own argument parser."""
    args = _order_api_container(load_config(env={}))["args"]
    parsed = order_api_main.parse_args(args)
    assert (parsed.host, parsed.port) == ("0.0.0.0", CONFIG.app.container_port)


def _order_api_container(config: StackConfig) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        text = build_app(config, Path(out)).synth_yaml()
    (deployment,) = [o for o in yaml.safe_load_all(text) if o and o["kind"] == "Deployment"
                     and o["metadata"]["name"] == NAMES.name]  # fmt: skip
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_grafana_admin_comes_from_a_secret_that_is_not_synthesized(
    synthesized: Synthesized,
) -> None:
    """Files from the Secret, mounted read-only; never values in the environment."""
    pod = _pod(synthesized, "grafana")
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert not any("valueFrom" in e for e in env.values()), "no secret in env values"
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for variable, key in (("GF_SECURITY_ADMIN_USER__FILE", "admin-user"),
                          ("GF_SECURITY_ADMIN_PASSWORD__FILE", "admin-password")):  # fmt: skip
        path = Path(env[variable]["value"])
        assert path.name == key
        mount = mounts[str(path.parent)]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == CONFIG.monitoring.grafana_admin_secret
        assert secret["optional"] is False, "Grafana must not start without the Secret"
    assert not synthesized.find("Secret"), "no Secret may be committed in dist/"


def test_grafana_starts_in_a_cluster(synthesized: Synthesized) -> None:
    """Grafana 12: enough memory, no plugin download at start, a startup probe
    for first-start migrations, a high UID with an fsGroup."""
    pod = _pod(synthesized, "grafana")
    (container,) = pod["containers"]
    limit = quantity(container["resources"]["limits"]["memory"])
    assert limit is not None and limit >= quantity("512Mi")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GF_PLUGINS_PREINSTALL_DISABLED"] == "true"
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == container["livenessProbe"]["httpGet"]["path"]
    # At least 2 minutes of start-up before liveness may restart it.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    assert "initialDelaySeconds" not in container["livenessProbe"]
    context = pod["securityContext"]
    assert context["runAsUser"] >= 10000 and context["fsGroup"] >= 10000


def test_grafana_memory_below_512mi_is_refused() -> None:
    env = {"ORDER_API_SRE_MONITORING__GRAFANA_RESOURCES__MEMORY_LIMIT": "256Mi"}
    with pytest.raises(ConfigError, match=r"monitoring\.grafana_resources\.memory_limit: "):
        check_config(load_config(env=env))
