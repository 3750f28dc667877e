"""dist/ against a real API server: accepted, idempotent, and dry-run agrees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cluster.client import kubectl

pytestmark = pytest.mark.live
DIST = Path(__file__).resolve().parents[2] / "dist"


def dist_objects() -> list[tuple[str, str]]:
    """(kind, name) of every object in dist/*.yaml."""
    return [
        (doc["kind"], doc["metadata"]["name"])
        for path in sorted(DIST.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _reported(out: str) -> dict[str, str]:
    """kubectl apply's `kind.group/name verb` lines -> {name-with-kind: verb}."""
    lines = [line.split(" ", 1) for line in out.strip().splitlines()]
    return {ref: verb for ref, verb in lines}


def test_every_dist_object_exists_in_the_api_server(cluster):
    for kind, name in dist_objects():
        ns = (
            [] if kind in ("Namespace", "ClusterRole", "ClusterRoleBinding") else ["-n", "sre-demo"]
        )
        kubectl("get", kind, name, *ns, "-o", "name")


# kubectl's client-side apply always re-sends a PodDisruptionBudget's selector
# (policy/v1 marks it patchStrategy=replace), so it prints "configured" although
# the API server stores nothing new (kubernetes/kubernetes#66450): the
# resourceVersion below proves the object did not change.
ALWAYS_PATCHED = {"poddisruptionbudget.policy/order-api"}


def _versions() -> dict[str, str]:
    """What an apply could write, per object: all but the status and what controllers
    record (an HPA's status moves with its controller's sync, not with kubectl)."""
    items = get_json_list("-f", str(DIST))
    return {f"{i['kind']}/{i['metadata']['name']}": _applied_part(i) for i in items}


def _applied_part(item: dict) -> str:
    meta = {
        k: v for k, v in item["metadata"].items() if k not in ("resourceVersion", "managedFields")
    }
    kubectl_fields = [f for f in item["metadata"].get("managedFields", [])
                      if f.get("manager", "").startswith("kubectl")]  # fmt: skip
    rest = {k: v for k, v in item.items() if k not in ("status", "metadata")}
    return json.dumps([meta, kubectl_fields, rest], sort_keys=True)


def get_json_list(*args: str) -> list[dict]:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)["items"]


def test_second_apply_reports_every_object_unchanged(cluster):
    before = _versions()
    out = kubectl("apply", "-f", str(DIST)).stdout
    verbs = _reported(out)
    assert len(verbs) == len(dist_objects())
    changed = {ref for ref, verb in verbs.items() if verb != "unchanged"}
    assert changed <= ALWAYS_PATCHED, out
    assert all(verbs[ref] == "configured" for ref in changed)
    assert _versions() == before  # nothing was written, whatever kubectl printed


def test_server_side_dry_run_agrees(cluster):
    plain = _reported(kubectl("apply", "-f", str(DIST)).stdout)
    dry = _reported(kubectl("apply", "-f", str(DIST), "--dry-run=server").stdout)
    assert {ref: f"{verb} (server dry run)" for ref, verb in plain.items()} == dry
