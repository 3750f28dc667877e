"""The Canary and its MetricTemplates, read from the synthesized YAML in dist/.

The rehearsal takes every analysis setting from these objects, exactly what
Flagger would read in the cluster, so a wrong threshold or a template that
renders to nothing shows up here first. Defaults follow Flagger's
(`pkg/apis/flagger/v1beta1/canary.go`): metric interval 1m, threshold 1,
maxWeight 100.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rehearsal.spec.duration_text import parse_duration
from rehearsal.spec.webhook_commands import (
    CommandError,
    HeyCommand,
    HttpCheck,
    parse_curl_check,
    parse_hey,
)
from stack.names import BUILTIN_METRICS, FLAGGER_API, REQUEST_DURATION, REQUEST_SUCCESS_RATE

DEFAULT_METRIC_INTERVAL = "1m"
# Flagger compares its built-ins in these units (success rate %, p99 ms).
BUILTIN_UNITS = {REQUEST_SUCCESS_RATE: "%", REQUEST_DURATION: "ms"}
DEFAULT_THRESHOLD = 1
TOTAL_WEIGHT = 100
# Flagger's two built-in checks; everything else needs a templateRef (or a query).
PRE_ROLLOUT = "pre-rollout"
ROLLOUT = "rollout"


class SpecError(ValueError):
    """dist/ has no usable Canary, or the Canary refers to something missing."""


@dataclass(frozen=True, kw_only=True)
class MetricTemplate:
    name: str
    namespace: str
    provider_type: str
    address: str
    query: str


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One entry of `analysis.metrics`, with its template resolved."""

    name: str
    interval: str
    min: float | None
    max: float | None
    template: MetricTemplate | None = None
    query: str | None = None  # Flagger's inline `query:` (rare)
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def interval_s(self) -> float:
        return parse_duration(self.interval)

    @property
    def builtin(self) -> bool:
        return self.template is None and self.query is None

    @property
    def unit(self) -> str:
        """The unit the value is compared in: Flagger's for the built-ins; for a
        template, read from its name (a Canary carries no unit), else none."""
        if self.builtin:
            return BUILTIN_UNITS.get(self.name, "")
        words = set(re.split(r"[^a-z0-9]+", self.name.lower()))
        if words & {"rate", "ratio", "percent", "percentage"}:
            return "%"
        if words & {"latency", "duration", "p50", "p90", "p95", "p99"}:
            return "ms"
        return ""


@dataclass(frozen=True, kw_only=True)
class Webhook:
    name: str
    type: str
    url: str
    metadata: Mapping[str, str]

    @property
    def cmd(self) -> str:
        return self.metadata.get("cmd", "")

    def hey(self) -> HeyCommand | None:
        """The hey load command in `metadata.cmd` (validated by load_canary)."""
        return parse_hey(self.cmd)

    def http_check(self) -> HttpCheck | None:
        """The curl request inside `metadata.cmd` and the status it must return."""
        return parse_curl_check(self.cmd)


@dataclass(frozen=True, kw_only=True)
class Canary:
    """The parts of a Flagger Canary that drive the analysis."""

    name: str
    namespace: str
    target: str
    provider: str
    service_port: int
    interval: str
    threshold: int
    max_weight: int
    step_weight: int
    step_weights: tuple[int, ...]
    metrics: tuple[Metric, ...]
    webhooks: tuple[Webhook, ...]
    source: Path

    @property
    def interval_s(self) -> float:
        return parse_duration(self.interval)

    @property
    def loadtester_key(self) -> str:
        """How flagger-loadtester names the canary of a call (`<name>.<namespace>`)."""
        return f"{self.name}.{self.namespace}"

    def load_hooks(self) -> list[Webhook]:
        """Pre-rollout and rollout webhooks that carry a hey command, in order."""
        return [
            w for w in self.webhooks if (w.type or ROLLOUT) in (PRE_ROLLOUT, ROLLOUT) and w.hey()
        ]

    def webhooks_of(self, kind: str) -> list[Webhook]:
        # Flagger treats a webhook without a type as a rollout hook.
        return [w for w in self.webhooks if (w.type or ROLLOUT) == kind]

    def metrics_in_flagger_order(self) -> list[Metric]:
        """Built-ins and inline queries first, then templates (Flagger's two loops)."""
        return [m for m in self.metrics if m.template is None] + [
            m for m in self.metrics if m.template is not None
        ]


def _documents(dist: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    if not dist.is_dir():
        raise SpecError(f"{dist}: no such directory (run `make synth` first, or pass --dist)")
    for path in sorted([*dist.glob("*.yaml"), *dist.glob("*.yml")]):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as exc:
            raise SpecError(f"{path}: cannot read YAML: {exc}") from None
        for doc in docs:
            if isinstance(doc, dict):
                yield path, doc


def _require(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj or obj[key] in (None, ""):
        raise SpecError(f"{where}: missing {key}")
    return obj[key]


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _interval(value: Any, where: str) -> str:
    text = str(value)
    try:
        parse_duration(text)
    except ValueError as exc:
        raise SpecError(f"{where}: {exc}") from None
    return text


def _templates(
    docs: Sequence[tuple[Path, dict[str, Any]]],
) -> dict[tuple[str, str], MetricTemplate]:
    found: dict[tuple[str, str], MetricTemplate] = {}
    for path, doc in docs:
        if doc.get("kind") != "MetricTemplate" or doc.get("apiVersion") != FLAGGER_API:
            continue
        meta, spec = doc.get("metadata", {}), doc.get("spec", {})
        where = f"{path.name}: MetricTemplate {meta.get('name')}"
        provider = spec.get("provider", {})
        template = MetricTemplate(
            name=_require(meta, "name", where),
            namespace=meta.get("namespace", "default"),
            provider_type=_require(provider, "type", where + " provider"),
            address=provider.get("address", ""),
            query=_require(spec, "query", where),
        )
        found[(template.namespace, template.name)] = template
    return found


def _metric(
    raw: Mapping[str, Any],
    index: int,
    *,
    namespace: str,
    templates: Mapping[tuple[str, str], MetricTemplate],
    where: str,
) -> Metric:
    name = str(_require(raw, "name", f"{where}.metrics[{index}]"))
    here = f"{where}.metrics[{index}] ({name})"
    threshold_range = raw.get("thresholdRange") or {}
    low = _number(threshold_range.get("min"), here + ".thresholdRange.min")
    high = _number(threshold_range.get("max"), here + ".thresholdRange.max")
    if not threshold_range and "threshold" in raw:
        # Deprecated `threshold:`: a minimum for success rate, a maximum otherwise.
        value = _number(raw["threshold"], here + ".threshold")
        low, high = (value, None) if name == REQUEST_SUCCESS_RATE else (None, value)
    template = None
    if ref := raw.get("templateRef"):
        key = (ref.get("namespace") or namespace, _require(ref, "name", here + ".templateRef"))
        template = templates.get(key)
        if template is None:
            raise SpecError(
                f"{here}: templateRef {key[1]}.{key[0]} matches no MetricTemplate in dist/"
            )
        if template.provider_type != "prometheus":
            raise SpecError(f"{here}: provider {template.provider_type!r} (only prometheus)")
    elif raw.get("query") is None and name not in BUILTIN_METRICS:
        raise SpecError(f"{here}: not a built-in metric and has no templateRef or query")
    variables = {str(k): str(v) for k, v in (raw.get("templateVariables") or {}).items()}
    return Metric(
        name=name,
        interval=_interval(raw.get("interval") or DEFAULT_METRIC_INTERVAL, here + ".interval"),
        min=low,
        max=high,
        template=template,
        query=raw.get("query"),
        variables=variables,
    )


def _webhooks(analysis: Mapping[str, Any], where: str) -> tuple[Webhook, ...]:
    hooks = tuple(
        Webhook(
            name=str(w.get("name", "")),
            type=str(w.get("type", "")),
            url=str(w.get("url", "")),
            metadata={str(k): str(v) for k, v in (w.get("metadata") or {}).items()},
        )
        for w in analysis.get("webhooks") or []
    )
    for hook in hooks:
        try:
            parse_hey(hook.cmd)
        except CommandError as exc:
            raise SpecError(f"{where}.analysis.webhooks ({hook.name}): {exc}") from None
    return hooks


def load_canary(dist: Path, *, name: str | None = None) -> Canary:
    """The one Canary in `dist` (or the one called `name`) with its MetricTemplates."""
    docs = list(_documents(dist))
    canaries = [
        (p, d) for p, d in docs if d.get("kind") == "Canary" and d.get("apiVersion") == FLAGGER_API
    ]
    if name is not None:
        found = ", ".join(sorted(str(d.get("metadata", {}).get("name")) for _, d in canaries))
        canaries = [(p, d) for p, d in canaries if d.get("metadata", {}).get("name") == name]
        if not canaries and found:
            raise SpecError(f"{dist}: no Canary named {name!r}; Canaries found: {found}")
    if not canaries:
        raise SpecError(f"{dist}: no {FLAGGER_API} Canary found (run `make synth` first)")
    if len(canaries) > 1:
        names = ", ".join(str(d.get("metadata", {}).get("name")) for _, d in canaries)
        raise SpecError(f"{dist}: several Canaries ({names}); pick one with --canary NAME")
    path, doc = canaries[0]
    meta, spec = doc.get("metadata", {}), doc.get("spec", {})
    where = f"{path.name}: Canary {meta.get('name')}"
    namespace = meta.get("namespace", "default")
    analysis = _require(spec, "analysis", where)
    if analysis.get("iterations") or analysis.get("match") or analysis.get("mirror"):
        raise SpecError(
            f"{where}: the rehearsal runs progressive canaries only "
            "(iterations/match/mirror are blue-green, A/B and mirroring)"
        )
    step_weights = tuple(int(w) for w in analysis.get("stepWeights") or ())
    step_weight = int(analysis.get("stepWeight") or 0)
    if not step_weight and not step_weights:
        raise SpecError(f"{where}.analysis: needs stepWeight or stepWeights")
    templates = _templates(docs)
    metrics = tuple(
        _metric(m, i, namespace=namespace, templates=templates, where=f"{where}.analysis")
        for i, m in enumerate(analysis.get("metrics") or [])
    )
    webhooks = _webhooks(analysis, where)
    service = spec.get("service") or {}
    return Canary(
        name=_require(meta, "name", where),
        namespace=namespace,
        target=_require(_require(spec, "targetRef", where), "name", where + ".targetRef"),
        provider=str(spec.get("provider", "")),
        service_port=int(_require(service, "port", where + ".service")),
        interval=_interval(_require(analysis, "interval", where + ".analysis"), where),
        threshold=int(analysis.get("threshold") or DEFAULT_THRESHOLD),
        max_weight=int(analysis.get("maxWeight") or TOTAL_WEIGHT),
        step_weight=step_weight,
        step_weights=step_weights,
        metrics=metrics,
        webhooks=webhooks,
        source=path,
    )


def ingress_host(dist: Path, canary: Canary) -> str | None:
    """The Host(`...`) of the IngressRoute that routes to the Canary's TraefikService."""
    for _, doc in _documents(dist):
        if doc.get("kind") != "IngressRoute":
            continue
        for route in (doc.get("spec") or {}).get("routes") or []:
            targets = {s.get("name") for s in route.get("services") or []}
            host = re.search(r"Host\(`([^`]+)`\)", str(route.get("match", "")))
            if canary.name in targets and host:
                return host.group(1)
    return None
