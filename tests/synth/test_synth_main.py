"""synth's command line: nothing destroyed on failure, help and config without writing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.synth_output import DIST, ROOT, clean_env, tree


def _synth(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synth.main", *args],
        cwd=ROOT, env={**clean_env(), **(env or {})}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_bad_config_keeps_the_previous_output_and_ends_with_the_error(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    (out / "00-old.k8s.yaml").write_text("kept: true\n")
    (out / "dashboards").mkdir()
    (out / "dashboards" / "old.json").write_text("{}\n")
    before = tree(out)
    result = _synth("--output", str(out), env={"ORDER_API_SRE_CANARY__STEP_WEIGHT": "0"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("synth: configuration error: ")
    assert "canary.step_weight" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist"]  # no staging left


def test_the_cdk8s_cli_with_a_bad_config_leaves_dist_as_it_was() -> None:
    before = tree(DIST)
    result = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "cdk8s"), "synth"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**clean_env(), "CDK8S_CHECK_UPGRADE": "false", "ORDER_API_SRE_APP__IMAGE_TAG": "-"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "synth: configuration error: app.image_tag" in result.stderr
    assert tree(DIST) == before


def test_an_unwritable_output_names_the_path_and_keeps_nothing_half_written(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    result = _synth("--output", str(blocker / "dist"))
    assert result.returncode == 2
    assert str(blocker) in result.stderr
    assert "Traceback" not in result.stderr


def test_help_and_print_config_write_nothing(tmp_path: Path) -> None:
    before = tree(DIST)
    help_ = _synth("--help")
    assert help_.returncode == 0 and "--print-config" in help_.stdout
    printed = _synth("--print-config", env={"ORDER_API_SRE_CANARY__STEP_WEIGHT": "20"})
    assert printed.returncode == 0, printed.stderr
    assert yaml.safe_load(printed.stdout)["canary"]["step_weight"] == 20
    assert _synth("--check").returncode == 0
    assert _synth("--bogus").returncode == 2
    assert tree(DIST) == before


def test_a_successful_synth_replaces_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    (out / "99-stale.k8s.yaml").write_text("stale: true\n")
    result = _synth("--output", str(out))
    assert result.returncode == 0, result.stderr
    assert not (out / "99-stale.k8s.yaml").exists()
    assert tree(out) == tree(DIST)


def test_make_synth_writes_a_profile_into_its_own_folder(tmp_path: Path) -> None:
    """`make synth VALUES=values/k3s.yaml OUT=...`: the profile, atomically, dist/ untouched."""
    before = tree(DIST)
    out = tmp_path / "dist-k3s"
    result = subprocess.run(
        ["make", "--no-print-directory", "synth", "VALUES=values/k3s.yaml", f"OUT={out}"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    policies = (out / "10-network-policies.k8s.yaml").read_text()
    assert "kubernetes.io/metadata.name: kube-system" in policies
    assert "kind: HelmChartConfig" in (out / "45-k3s-traefik.k8s.yaml").read_text()
    assert tree(DIST) == before


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("canary", "success_rate_min_percent: 150", "canary.success_rate_min_percent"),
        ("monitoring", "flagger_namespace: Flagger System", "monitoring.flagger_namespace"),
        ("app", "image_repository: UPPER/Case", "app.image_repository"),
    ],
)
def test_a_bad_values_file_exits_2_naming_the_field(
    tmp_path: Path, setting: str, value: str, field: str
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(f"{setting}:\n  {value}\n")
    result = _synth("--values", str(values), "--check")
    assert result.returncode == 2
    assert f"synth: configuration error: {field}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_importing_synth_leaves_path_alone_and_the_call_puts_node_22_first() -> None:
    script = (
        "import os, synth, synth.main, synth.node_runtime as n\n"
        "before = os.environ['PATH']\n"
        "import synth.charts.order_api\n"
        "print(before == os.environ['PATH'])\n"
        "n.use_project_node(); n.use_project_node()\n"
        "print(os.environ['PATH'].split(os.pathsep)[:2])\n"
    )
    env = {**clean_env(), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    unchanged, first = run.stdout.splitlines()
    assert unchanged == "True", run.stderr
    assert first == str([str(ROOT / "node_modules" / ".bin"), "/usr/bin"])  # once, not twice
