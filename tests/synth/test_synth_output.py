"""dist/: committed == fresh, both entry points identical, kubectl-apply-able layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stack.config import load_config
from stack.names import AppNames, app_names
from tests.support.synth_output import DIST, ROOT, Synthesized, clean_env, load_manifests, tree

FIX = "run `make synth` and commit dist/"


def test_committed_dist_matches_a_fresh_synth_of_values_yaml(
    synthesized_from_values: Path,
) -> None:
    assert DIST.is_dir(), f"dist/ is missing: {FIX}"
    committed, fresh = tree(DIST), tree(synthesized_from_values)
    stale = sorted(set(committed) ^ set(fresh))
    assert not stale, f"dist/ has missing or extra files {stale}: {FIX}"
    changed = sorted(name for name in fresh if committed[name] != fresh[name])
    assert not changed, f"dist/ is out of date in {changed}: {FIX}"


@pytest.mark.live
def test_cdk8s_cli_and_python_entry_point_write_identical_dist(
    synthesized_from_values: Path, tmp_path: Path
) -> None:
    out = tmp_path
    # No upgrade check: it calls the npm registry, and tests stay offline.
    env = {**clean_env(), "CDK8S_CHECK_UPGRADE": "false"}
    # The pinned CLI from node_modules, with the app command from cdk8s.yaml.
    cli = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "cdk8s"), "synth", "--output", str(out / "cli")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr + cli.stdout
    # Run directly over a stale file: synth.main must clear it like `cdk8s synth` does.
    (out / "direct").mkdir()
    (out / "direct" / "99-stale.k8s.yaml").write_text("stale: true\n")
    # ... and without node_modules/.bin on PATH: synth must still pick the pinned
    # Node 22, never an end-of-life system Node that makes jsii print a warning.
    node_bin = str(ROOT / "node_modules" / ".bin")
    path = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != node_bin)
    direct = subprocess.run(
        [sys.executable, "-m", "synth.main"],
        cwd=ROOT, env={**env, "PATH": path, "CDK8S_OUTDIR": str(out / "direct")},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert direct.returncode == 0, direct.stderr
    assert "end-of-life" not in direct.stdout + direct.stderr
    reference = tree(synthesized_from_values)
    assert tree(out / "cli") == reference
    assert tree(out / "direct") == reference


def test_top_level_holds_only_yaml_and_the_namespace_comes_first(synthesized: Synthesized) -> None:
    out = synthesized.outdir
    top = sorted(p.name for p in out.iterdir() if p.is_file())
    assert top and all(name.endswith(".k8s.yaml") for name in top), top
    # kubectl apply -f dist/ reads the top-level files in lexical order.
    first = load_manifests(out)[0]
    assert (first.file, first.kind) == (top[0], "Namespace")
    assert [m.kind for m in load_manifests(out)].count("Namespace") == 1


def test_non_manifests_live_in_subfolders(synthesized: Synthesized) -> None:
    out = synthesized.outdir
    dashboards = sorted((out / "dashboards").glob("*.json"))
    assert dashboards, "no dashboard JSON copies in dist/dashboards/"
    assert not list(out.glob("*.json"))


def test_every_object_is_namespaced_to_the_stack_or_cluster_scoped(
    synthesized: Synthesized,
) -> None:
    namespace = load_config(env={}).namespace
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for m in load_manifests(synthesized.outdir):
        expected = None if m.kind in cluster_scoped else namespace
        assert m.obj["metadata"].get("namespace") == expected, m.label


def test_names_are_unique_per_kind(synthesized: Synthesized) -> None:
    keys = [(m.kind, m.name) for m in load_manifests(synthesized.outdir)]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


@pytest.mark.parametrize(
    ("kind", "name_of"),
    [
        ("Service", lambda n: n.name),
        ("Service", lambda n: n.primary),
        ("Service", lambda n: n.canary_service),
        ("TraefikService", lambda n: n.name),
        ("Deployment", lambda n: n.primary),
        ("HorizontalPodAutoscaler", lambda n: n.primary),
    ],
)
def test_objects_flagger_generates_are_not_synthesized(
    kind: str, name_of: Callable[[AppNames], str], synthesized: Synthesized
) -> None:
    name = name_of(app_names(load_config(env={})))
    present = [
        m.label for m in load_manifests(synthesized.outdir) if (m.kind, m.name) == (kind, name)
    ]
    assert not present, f"Flagger creates {kind}/{name} itself: {present}"


# Client-side `kubectl apply` copies each object into the last-applied-configuration
# annotation, which the API server caps at 256 KiB (dashboards ConfigMaps grow).
LAST_APPLIED_LIMIT_BYTES = 262144


def test_every_object_fits_kubectl_apply_last_applied_annotation(synthesized: Synthesized) -> None:
    for m in load_manifests(synthesized.outdir):
        size = len(json.dumps(m.obj, separators=(",", ":")).encode())
        assert size < LAST_APPLIED_LIMIT_BYTES, f"{m.label}: {size} bytes"
