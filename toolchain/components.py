"""What the toolchain builds: one entry per wrapper Go module, and the node.

A component is one `go build` invocation over a generated wrapper module that
requires the upstream modules at their pinned versions. Components never share
a module: Flagger needs newer k8s.io modules than Kubernetes 1.35, so each gets
its own dependency graph. The node's kubelet is this repository's own Go module
(cluster/kubelet/): built from its folder as it is, keyed by a hash of its sources.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from toolchain import versions

# Local Go modules are folders of this repository, named relative to its root.
LOCAL_ROOT = Path(__file__).resolve().parent.parent

# Filled in at build time from the primary module's publication time, so a
# rebuild of the same pin produces the same binaries.
BUILD_DATE = "{build_date}"


@dataclass(frozen=True)
class Component:
    """One wrapper module and the binaries one `go build` makes of it."""

    name: str
    version: str
    # (module path, version); the first one is the primary module whose go,
    # godebug and exclude directives the wrapper copies.
    requires: tuple[tuple[str, str], ...]
    # binary name -> main package import path
    binaries: dict[str, str]
    # -X settings; values may contain {build_date}
    version_vars: dict[str, str] = field(default_factory=dict)
    # Map the primary module's local `./staging/...` replaces to this
    # published version (Kubernetes' staging modules).
    staging_version: str | None = None
    # A Go module folder of this repository (from its root), built as it is
    # instead of a generated wrapper; its version is a hash of its sources.
    local: str | None = None
    # Files the primary module embeds (go:embed) but does not publish, such as
    # a web UI built by npm in its release process: the build uses a copy of
    # the module with a one-line page at each path instead.
    embed_stubs: tuple[str, ...] = ()

    @property
    def primary(self) -> tuple[str, str]:
        return self.requires[0]

    @property
    def label(self) -> str:
        """Name and version for messages (a local module's version is its source hash)."""
        return f"{self.name} {self.version}"

    @property
    def key(self) -> str:
        """The cache folder name: a new pin, or an edited local source, is a new folder."""
        return f"{self.name}-{self.version}"


def _kubernetes_version_vars() -> dict[str, str]:
    # Without these the binaries say v0.0.0-master and Flagger refuses to start.
    major, minor = versions.KUBERNETES.removeprefix("v").split(".")[:2]
    values = {
        "gitVersion": versions.KUBERNETES,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": BUILD_DATE,
    }
    # kubectl reports its client version from client-go, the servers from component-base.
    return {
        f"{package}.{name}": value
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for name, value in values.items()
    }


def local_sources(folder: str) -> list[Path]:
    """The files of a local Go module that decide its binary, in a stable order."""
    root = LOCAL_ROOT / folder
    return sorted(p for p in root.iterdir() if p.suffix == ".go" or p.name in ("go.mod", "go.sum"))


def source_hash(folder: str) -> str:
    """The cache version of a local module: any edit to its sources is a new folder."""
    digest = hashlib.sha256()
    for path in local_sources(folder):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "src-" + digest.hexdigest()[:12]


def _prometheus_version_vars(version: str) -> dict[str, str]:
    """The -X settings of prometheus/common/version (Prometheus and Alertmanager)."""
    package = "github.com/prometheus/common/version"
    return {
        f"{package}.Version": version,
        f"{package}.Branch": "HEAD",
        f"{package}.BuildUser": "order-api-sre-toolchain",
        f"{package}.BuildDate": BUILD_DATE,
    }


_K8S_CMD = "k8s.io/kubernetes/cmd/"
# The dashboard schema checker (grafana-foundation-sdk), a local module.
GRAFANA_CHECK = "toolchain/grafana_check"
# prometheus-operator's own scrape-config generator on PodMonitors, a local module.
OPERATOR_CONFIG = "toolchain/operator_config"
# The local cluster's node: a virtual-kubelet whose pods are local processes.
KUBELET = "cluster/kubelet"
# kube-router's network-policy controller alone, as k3s embeds it (requires KUBE_ROUTER).
KUBE_ROUTER_NETPOL = "toolchain/netpol"


def _local_component(name: str, folder: str, *, reports_version: bool = False) -> Component:
    """A Go module of this repository: one binary, versioned by the hash of its sources."""
    version = source_hash(folder)
    return Component(
        name=name,
        version=version,
        requires=(),
        binaries={name: f"order-api-sre/{folder}"},
        version_vars={"main.version": version} if reports_version else {},
        local=folder,
    )


COMPONENTS: tuple[Component, ...] = (
    # The long pole first: with two builds at a time it overlaps everything else.
    Component(
        name="kubernetes",
        version=versions.KUBERNETES,
        requires=(("k8s.io/kubernetes", versions.KUBERNETES),),
        binaries={
            name: _K8S_CMD + name
            for name in (
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "kube-proxy",
                "kubectl",
            )
        },
        version_vars=_kubernetes_version_vars(),
        staging_version=versions.KUBERNETES_STAGING,
    ),
    Component(
        name="prometheus",
        version=versions.PROMETHEUS,
        requires=(("github.com/prometheus/prometheus", versions.PROMETHEUS_MODULE),),
        binaries={
            "prometheus": "github.com/prometheus/prometheus/cmd/prometheus",
            "promtool": "github.com/prometheus/prometheus/cmd/promtool",
        },
        version_vars=_prometheus_version_vars(versions.PROMETHEUS),
    ),
    Component(
        name="alertmanager",
        version=versions.ALERTMANAGER,
        requires=(("github.com/prometheus/alertmanager", versions.ALERTMANAGER),),
        binaries={
            "alertmanager": "github.com/prometheus/alertmanager/cmd/alertmanager",
            "amtool": "github.com/prometheus/alertmanager/cmd/amtool",
        },
        version_vars=_prometheus_version_vars(versions.ALERTMANAGER.removeprefix("v")),
        # The web UI (Elm and React) is built by npm for releases; the API, the
        # notifier and amtool need none of it.
        embed_stubs=("ui/app/dist/elm/index.html", "ui/app/dist/mantine/index.html"),
    ),
    Component(
        name="etcd",
        version=versions.ETCD,
        requires=(
            ("go.etcd.io/etcd/server/v3", versions.ETCD),
            ("go.etcd.io/etcd/etcdctl/v3", versions.ETCD),
        ),
        binaries={
            "etcd": "go.etcd.io/etcd/server/v3",
            "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
        },
    ),
    Component(
        name="flagger",
        version=versions.FLAGGER,
        requires=(("github.com/fluxcd/flagger", versions.FLAGGER),),
        binaries={
            "flagger": "github.com/fluxcd/flagger/cmd/flagger",
            "loadtester": "github.com/fluxcd/flagger/cmd/loadtester",
        },
    ),
    Component(
        name="helm",
        version=versions.HELM,
        requires=(("helm.sh/helm/v4", versions.HELM),),
        binaries={"helm": "helm.sh/helm/v4/cmd/helm"},
        # Its Makefile on a release tag: the version, no metadata, a clean tree
        # (the module proxy has no commit hash, so gitCommit stays empty).
        version_vars={
            "helm.sh/helm/v4/internal/version.version": versions.HELM,
            "helm.sh/helm/v4/internal/version.metadata": "",
            "helm.sh/helm/v4/internal/version.gitTreeState": "clean",
        },
    ),
    Component(
        name="coredns",
        version=versions.COREDNS,
        requires=(("github.com/coredns/coredns", versions.COREDNS),),
        binaries={"coredns": "github.com/coredns/coredns"},
    ),
    Component(
        name="hey",
        version=versions.HEY,
        requires=(("github.com/rakyll/hey", versions.HEY),),
        binaries={"hey": "github.com/rakyll/hey"},
    ),
    Component(
        name="metrics-server",
        version=versions.METRICS_SERVER,
        requires=(("sigs.k8s.io/metrics-server", versions.METRICS_SERVER),),
        binaries={"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
        # Its Makefile's VERSION_LDFLAGS (gitCommit is not on the module proxy).
        version_vars={
            "k8s.io/client-go/pkg/version.gitVersion": versions.METRICS_SERVER,
            "k8s.io/client-go/pkg/version.buildDate": BUILD_DATE,
        },
    ),
    _local_component("grafana-check", GRAFANA_CHECK, reports_version=True),
    _local_component("operator-config", OPERATOR_CONFIG, reports_version=True),
    _local_component("kubelet", KUBELET),
    _local_component("kube-router-netpol", KUBE_ROUTER_NETPOL, reports_version=True),
)

BY_NAME = {c.name: c for c in COMPONENTS}
BY_BINARY = {binary: c for c in COMPONENTS for binary in c.binaries}


def select(names: list[str]) -> list[Component]:
    """Components by component or binary name (all when `names` is empty), in build order."""
    if not names:
        return list(COMPONENTS)
    unknown = [n for n in names if n not in BY_NAME and n not in BY_BINARY]
    if unknown:
        raise ValueError(
            f"unknown toolchain component {', '.join(unknown)}: "
            f"choose from {', '.join(BY_NAME)} (or one of their binaries)"
        )
    wanted = {n if n in BY_NAME else BY_BINARY[n].name for n in names}
    return [c for c in COMPONENTS if c.name in wanted]
