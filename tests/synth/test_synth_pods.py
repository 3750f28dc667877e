"""Every pod: restricted Pod Security Standard, resources, probes, pinned images."""

from __future__ import annotations

from typing import Any

import pytest

from stack.config import load_config
from stack.names import app_names
from tests.synth.synth_harness import find, one, pod_templates

CONFIG = load_config(env={})
NAMES = app_names(CONFIG)
# Volume types the restricted profile allows.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
POD_IDS = [owner.label for owner, _ in pod_templates()]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("initContainers", []) + pod["containers"]


def _effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A container setting, falling back to the pod-level security context."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.get("securityContext", {}).get(key)


@pytest.mark.parametrize(("owner", "pod"), list(pod_templates()), ids=POD_IDS)
def test_pod_meets_the_restricted_pod_security_standard(owner, pod: dict[str, Any]) -> None:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert pod.get(key) is not True, key
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        assert kinds <= RESTRICTED_VOLUMES, f"{volume['name']}: {kinds}"
    assert "sysctls" not in pod.get("securityContext", {})
    for c in _containers(pod):
        sc = c.get("securityContext", {})
        where = f"{owner.label} container {c['name']}"
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


@pytest.mark.parametrize(("owner", "pod"), list(pod_templates()), ids=POD_IDS)
def test_containers_have_resources_probes_and_pinned_images(owner, pod: dict[str, Any]) -> None:
    for c in pod["containers"]:
        where = f"{owner.label} container {c['name']}"
        for side in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c.get("resources", {}).get(side, {})), (where, side)
        assert "livenessProbe" in c and "readinessProbe" in c, where
        repository, _, tag = c["image"].rpartition(":")
        assert repository and "/" not in tag and tag not in {"", "latest"}, (where, c["image"])


def test_order_api_deployment_as_the_issue_lists() -> None:
    deployment = one("Deployment", NAMES.name)
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
    assert one("ServiceAccount", NAMES.name)["automountServiceAccountToken"] is False


def test_hpa_scales_on_cpu_and_pdb_covers_both_tracks() -> None:
    hpa = one("HorizontalPodAutoscaler", NAMES.name)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (
        CONFIG.app.min_replicas,
        CONFIG.app.max_replicas,
    )
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    pdb = one("PodDisruptionBudget", NAMES.name)["spec"]
    (expr,) = pdb["selector"]["matchExpressions"]
    assert (expr["key"], expr["operator"], set(expr["values"])) == (
        "app",
        "In",
        {NAMES.name, NAMES.primary},
    )


def test_namespace_enforces_restricted() -> None:
    labels = one("Namespace", CONFIG.namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_grafana_admin_comes_from_a_secret_that_is_not_synthesized() -> None:
    (container,) = one("Deployment", "grafana")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    for name in ("GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == CONFIG.monitoring.grafana_admin_secret
        assert ref.get("optional") is False, "Grafana must not start without the Secret"
    assert not find("Secret"), "no Secret may be committed in dist/"
