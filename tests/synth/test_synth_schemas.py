"""Every object against its schema: Kubernetes 1.31..1.37 strictly, CRs against the CRDs."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.support.stack_variants import CHARTS, PROFILE_CHARTS, chart_objects, config_for
from tests.support.synth_output import Manifest, Synthesized
from toolchain import ToolchainError
from toolchain.crds import crd_documents

KUBERNETES_MINORS = [f"1.{minor}" for minor in range(31, 38)]
# API groups served by CRDs (Flagger, Traefik, k3s's helm-controller,
# cert-manager, prometheus-operator), not by Kubernetes itself.
CUSTOM_GROUPS = {"flagger.app", "traefik.io", "helm.cattle.io", "cert-manager.io",
                 "monitoring.coreos.com"}  # fmt: skip


def _is_custom(m: Manifest) -> bool:
    return m.obj["apiVersion"].rpartition("/")[0] in CUSTOM_GROUPS


def _builtin(synthesized: Synthesized) -> list[Manifest]:
    return [m for m in synthesized.manifests() if not _is_custom(m)]


def _custom(synthesized: Synthesized) -> list[Manifest]:
    return [m for m in synthesized.manifests() if _is_custom(m)]


@pytest.mark.parametrize("version", KUBERNETES_MINORS)
def test_builtin_objects_validate_strictly(version: str, synthesized: Synthesized) -> None:
    objects = _builtin(synthesized)
    assert objects
    errors = []
    for m in objects:
        try:
            kubernetes_validate.validate(m.obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{m.label}: {exc.message} at {list(exc.path)}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{m.label}: {exc.message}")
    assert not errors, f"Kubernetes {version}:\n" + "\n".join(errors)


def _structural(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD openAPIV3Schema as JSON Schema, as strict as the API server.

    Kubernetes prunes (or, with kubectl's default strict field validation,
    rejects) unknown fields, so objects with `properties` get
    additionalProperties: false unless they preserve unknown fields.
    int-or-string becomes anyOf integer/string.
    """
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for key, value in node.items():
            # `properties` maps field names to schemas; never treat a name as a keyword.
            if key == "properties":
                for sub in value.values():
                    walk(sub)
            else:
                walk(value)

    walk(schema)
    return schema


@cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema, from the CRDs of the pinned Flagger and Traefik."""
    try:
        documents = crd_documents()
    except ToolchainError as error:
        pytest.fail(f"the upstream CRDs: {error}")
    schemas = {}
    for crd in documents:
        spec = crd["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            schemas[key] = _structural(version["schema"]["openAPIV3Schema"])
    return schemas


def test_custom_resources_validate_against_their_crds(synthesized: Synthesized) -> None:
    objects = _custom(synthesized)
    kinds = {m.kind for m in objects}
    assert {"Canary", "MetricTemplate", "IngressRoute", "Middleware"} <= kinds, kinds
    errors = []
    for m in objects:
        schema = _crd_schemas().get((m.obj["apiVersion"], m.kind))
        if schema is None:
            errors.append(f"{m.label}: no CRD serves {m.obj['apiVersion']} {m.kind}")
            continue
        validator = jsonschema.Draft7Validator(schema)
        errors += [
            f"{m.label}: {e.message} at {'/'.join(map(str, e.absolute_path))}"
            for e in validator.iter_errors(m.obj)
        ]
    assert not errors, "\n".join(errors)


def test_crd_strictness_catches_an_unknown_field(synthesized: Synthesized) -> None:
    """The validator above must fail on a typo, or it proves nothing."""
    canary = next(m.obj for m in _custom(synthesized) if m.kind == "Canary")
    canary["spec"]["analysis"]["stepWieght"] = 5
    schema = _crd_schemas()[(canary["apiVersion"], "Canary")]
    assert not jsonschema.Draft7Validator(schema).is_valid(canary)


def test_traefik_objects_use_the_current_api_group(synthesized: Synthesized) -> None:
    for m in _custom(synthesized):
        assert "traefik.containo.us" not in m.obj["apiVersion"], m.label


@pytest.mark.parametrize(
    "config_name",
    [
        "step-weights",
        "faults",
        "shop",
        "alerts-slack",
        "alerts-email",
        "tls-secret",
        "tls-cert-manager",
    ],
)
def test_override_configs_validate_against_their_crds(config_name: str) -> None:
    """The snapshot overrides (stepWeights instead of stepWeight/maxWeight, ...)."""
    config = config_for(config_name)
    objects = [
        o
        for chart_id in CHARTS
        for o in chart_objects(config, chart_id)
        if o["apiVersion"].rpartition("/")[0] in CUSTOM_GROUPS
    ]
    assert objects
    errors = [
        f"{o['kind']}/{o['metadata']['name']}: {e.message}"
        for o in objects
        for e in jsonschema.Draft7Validator(
            _crd_schemas()[(o["apiVersion"], o["kind"])]
        ).iter_errors(o)
    ]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("profile", list(PROFILE_CHARTS))
def test_profiles_validate_strictly(profile: str) -> None:
    """Each committed profile (values/*.yaml): built-in kinds against every
    supported Kubernetes strictly, custom resources against their CRDs."""
    config = config_for(profile)
    objects = [o for chart in PROFILE_CHARTS[profile] for o in chart_objects(config, chart)]
    errors = []
    for o in objects:
        label = f"{o['kind']}/{o['metadata']['name']}"
        if o["apiVersion"].rpartition("/")[0] in CUSTOM_GROUPS:
            schema = _crd_schemas()[(o["apiVersion"], o["kind"])]
            validator = jsonschema.Draft7Validator(schema)
            errors += [f"{label}: {e.message}" for e in validator.iter_errors(o)]
            continue
        for version in (KUBERNETES_MINORS[0], KUBERNETES_MINORS[-1]):
            try:
                kubernetes_validate.validate(o, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{label} ({version}): {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_the_helm_chart_config_schema_is_strict() -> None:
    """A typo in the HelmChartConfig must fail the CRD validation above."""
    config = config_for("k3s")
    (hcc,) = [o for o in chart_objects(config, "45-k3s-traefik") if o["kind"] == "HelmChartConfig"]
    schema = _crd_schemas()[(hcc["apiVersion"], "HelmChartConfig")]
    assert jsonschema.Draft7Validator(schema).is_valid(hcc)
    hcc["spec"]["valueContent"] = hcc["spec"].pop("valuesContent")
    assert not jsonschema.Draft7Validator(schema).is_valid(hcc)
