"""The cache layout, the generated wrapper modules, atomic builds, clear errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toolchain
from toolchain import ToolchainError, components, versions
from toolchain.build import build, build_one
from toolchain.cache import cache_root
from toolchain.components import BY_BINARY, BY_NAME, Component, select
from toolchain.gotool import go_binary, module_file
from toolchain.wrapper import EMBED_STUB, UPSTREAM_COPY, gomod_text, write_wrapper

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORDER_API_SRE_CACHE", str(tmp_path))
    return tmp_path / "toolchain"


@pytest.fixture
def go() -> str:
    try:
        return go_binary()
    except ToolchainError as error:
        pytest.fail(f"Go is a prerequisite: {error}")


def test_cache_root_follows_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDER_API_SRE_CACHE", "/c")
    assert cache_root() == Path("/c/toolchain")
    monkeypatch.setenv("ORDER_API_SRE_CACHE", "")  # empty means unset
    monkeypatch.setenv("XDG_CACHE_HOME", "/x")
    assert cache_root() == Path("/x/order-api-sre/toolchain")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "order-api-sre" / "toolchain"


def test_a_missing_binary_names_its_component_and_the_fix(empty_cache: Path) -> None:
    with pytest.raises(ToolchainError) as raised:
        toolchain.bin_path("kube-apiserver")
    message = str(raised.value)
    assert f"kube-apiserver (kubernetes {versions.KUBERNETES}) is not built" in message
    assert "python -m toolchain build kubernetes" in message
    assert toolchain.bin_dirs() == []


def test_an_unknown_binary_lists_the_known_ones() -> None:
    with pytest.raises(ToolchainError, match=r"grafana is not part of the toolchain.*promtool"):
        toolchain.bin_path("grafana")
    with pytest.raises(ValueError, match="unknown toolchain component grafana"):
        select(["grafana"])


def test_select_takes_components_or_binaries_in_build_order() -> None:
    assert [c.name for c in select(["hey", "kubectl"])] == ["kubernetes", "hey"]
    assert len(select([])) == len(BY_NAME)


def test_kubernetes_wrapper_maps_every_staging_module(go: str) -> None:
    upstream = module_file("k8s.io/kubernetes", versions.KUBERNETES)
    staging = {r["Old"]["Path"] for r in upstream["Replace"] if "staging" in r["New"]["Path"]}
    assert len(staging) >= 30
    text = gomod_text(BY_NAME["kubernetes"])
    for module in staging:
        assert f"\t{module} => {module} {versions.KUBERNETES_STAGING}\n" in text
    assert "./staging" not in text
    assert "godebug default=go1.25" in text


def test_prometheus_wrapper_copies_the_upstream_excludes(go: str) -> None:
    upstream = module_file("github.com/prometheus/prometheus", versions.PROMETHEUS_MODULE)
    assert upstream["Exclude"]
    text = gomod_text(BY_NAME["prometheus"])
    for exclude in upstream["Exclude"]:
        assert f"\t{exclude['Path']} {exclude['Version']}\n" in text


def test_a_local_modules_version_is_the_hash_of_its_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = components.LOCAL_ROOT / components.GRAFANA_CHECK
    copy = tmp_path / components.GRAFANA_CHECK
    shutil.copytree(source, copy)
    assert components.source_hash(components.GRAFANA_CHECK) == BY_NAME["grafana-check"].version
    monkeypatch.setattr(components, "LOCAL_ROOT", tmp_path)
    before = components.source_hash(components.GRAFANA_CHECK)
    (copy / "README.txt").write_text("not a source: the hash ignores it")
    assert components.source_hash(components.GRAFANA_CHECK) == before
    (copy / "main.go").write_text((copy / "main.go").read_text() + "\n// edited\n")
    assert components.source_hash(components.GRAFANA_CHECK) != before


def test_alertmanager_wrapper_builds_a_copy_with_the_ui_stubbed(go: str, tmp_path: Path) -> None:
    """The module zip has no built web UI; the wrapper builds a writable copy with stubs."""
    alertmanager = BY_NAME["alertmanager"]
    write_wrapper(alertmanager, tmp_path)
    text = (tmp_path / "go.mod").read_text()
    assert f"replace github.com/prometheus/alertmanager => ./{UPSTREAM_COPY}\n" in text
    for stub in alertmanager.embed_stubs:
        assert (tmp_path / UPSTREAM_COPY / stub).read_text() == EMBED_STUB
    assert (tmp_path / UPSTREAM_COPY / "cmd" / "amtool").is_dir()
    assert os.access(tmp_path / UPSTREAM_COPY / "go.mod", os.W_OK)


@pytest.mark.live
def test_a_local_module_builds_from_a_copy_and_reports_its_hash(go: str, empty_cache: Path) -> None:
    checker = BY_NAME["grafana-check"]
    assert build_one(checker, say=lambda line: None) is not None
    binary = toolchain.bin_path("grafana-check")
    assert binary == empty_cache / f"grafana-check-{checker.version}" / "bin" / "grafana-check"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == f"grafana-check {checker.version}"
    # The build never wrote into the repository's module folder.
    source = components.LOCAL_ROOT / components.GRAFANA_CHECK
    assert sorted(p.name for p in source.iterdir()) == ["go.mod", "go.sum", "main.go"]


def test_a_failed_build_leaves_nothing_behind(go: str, empty_cache: Path) -> None:
    broken = Component(
        name="broken",
        version="v0",
        requires=(("github.com/rakyll/hey", versions.HEY),),
        binaries={"nothing": "github.com/rakyll/hey/no/such/package"},
    )
    with pytest.raises(ToolchainError, match="go mod tidy failed"):
        build([broken], say=lambda line: None)
    left = sorted(p.name for p in empty_cache.iterdir())
    assert left == [".locks", "logs"], left


@pytest.mark.live
def test_a_build_is_cached_and_renamed_into_place(go: str, empty_cache: Path) -> None:
    lines: list[str] = []
    hey = BY_NAME["hey"]
    seconds = build_one(hey, say=lines.append)
    assert seconds is not None and seconds > 0
    assert toolchain.bin_path("hey") == empty_cache / f"hey-{versions.HEY}" / "bin" / "hey"
    assert build_one(hey, say=lines.append) is None
    assert lines[-1].startswith(f"toolchain: hey {versions.HEY} cached")
    assert not list(empty_cache.glob(".tmp-*"))
    assert toolchain.bin_dirs() == [empty_cache / f"hey-{versions.HEY}" / "bin"]


def test_the_node_kubelet_is_the_repository_module() -> None:
    node = BY_BINARY["kubelet"]
    assert node.local == components.KUBELET and (REPO / components.KUBELET).is_dir()
    assert node.version == components.source_hash(components.KUBELET)
    module = (REPO / components.KUBELET / "go.mod").read_text().splitlines()[0]
    assert module == f"module {node.binaries['kubelet']}"


@pytest.mark.live
def test_concurrent_builds_build_once(go: str, tmp_path: Path) -> None:
    env = {**os.environ, "ORDER_API_SRE_CACHE": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "toolchain", "build", "hey"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    joined = "".join(outputs)
    assert joined.count(" built in ") == 1 and joined.count(" cached (") == 1, joined


@pytest.mark.live
def test_ctrl_c_during_a_build_keeps_nothing(go: str, tmp_path: Path) -> None:
    # A private, empty Go build cache makes the build last long enough to interrupt.
    env = {**os.environ, "ORDER_API_SRE_CACHE": str(tmp_path), "GOCACHE": str(tmp_path / "go")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolchain", "build", "hey"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert "building hey" in proc.stdout.readline()
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole process group
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    root = tmp_path / "toolchain"
    assert not list(root.glob("hey-*")) and not list(root.glob(".tmp-*"))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolchain", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["path", "grafana"], "grafana is not part of the toolchain"),
        (["build", "grafana"], "unknown toolchain component grafana"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], message: str) -> None:
    run = _cli(*args)
    assert run.returncode == 1
    assert message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("folder", "module", "pin"),
    [
        (components.GRAFANA_CHECK, "github.com/grafana/grafana-foundation-sdk/go",
         versions.GRAFANA_FOUNDATION_SDK),
        (components.OPERATOR_CONFIG, "github.com/prometheus-operator/prometheus-operator",
         versions.PROMETHEUS_OPERATOR),
        (components.KUBE_ROUTER_NETPOL, "github.com/cloudnativelabs/kube-router/v2",
         versions.KUBE_ROUTER),
    ],
)  # fmt: skip
def test_local_modules_require_the_pins_of_versions_py(folder: str, module: str, pin: str) -> None:
    gomod = (components.LOCAL_ROOT / folder / "go.mod").read_text()
    assert f"\t{module} {pin}\n" in gomod or f"require {module} {pin}\n" in gomod
    assert f"{module} {pin} h1:" in (components.LOCAL_ROOT / folder / "go.sum").read_text()
