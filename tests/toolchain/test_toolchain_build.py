"""The cache layout, the generated wrapper modules, atomic builds, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toolchain
from toolchain import ToolchainError, versions
from toolchain.build import build, build_one
from toolchain.cache import cache_root
from toolchain.components import BY_BINARY, BY_NAME, LOCAL_VERSION, Component, select
from toolchain.gotool import go_binary, module_file
from toolchain.wrapper import gomod_text

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
    assert "make toolchain" in message
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


HELLO_GO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from source") }\n'


def _local_module(folder: Path) -> Component:
    folder.mkdir()
    (folder / "go.mod").write_text("module example.test/hello\n\ngo 1.26\n")
    (folder / "main.go").write_text(HELLO_GO)
    return Component(
        name="hello",
        version=LOCAL_VERSION,
        requires=(),
        binaries={"hello": "example.test/hello"},
        source=folder,
    )


def test_a_local_module_is_keyed_by_a_hash_of_its_go_sources(tmp_path: Path) -> None:
    local = _local_module(tmp_path / "hello")
    first = local.key
    assert first.startswith("hello-") and first != f"hello-{LOCAL_VERSION}"
    (tmp_path / "hello" / "notes.txt").write_text("not a source")
    assert local.key == first
    (tmp_path / "hello" / "main.go").write_text(HELLO_GO + "// edited\n")
    assert local.key != first


def test_the_node_kubelet_is_the_repository_module() -> None:
    node = BY_BINARY["kubelet"]
    assert node.source == REPO / "cluster" / "kubelet" and node.version == LOCAL_VERSION
    module = (node.source / "go.mod").read_text().splitlines()[0]
    assert module == f"module {node.binaries['kubelet']}"


@pytest.mark.live
def test_a_local_module_is_built_from_its_folder_once_per_source(
    go: str, empty_cache: Path, tmp_path: Path
) -> None:
    local = _local_module(tmp_path / "hello")
    lines: list[str] = []
    assert build_one(local, say=lines.append) is not None
    binary = empty_cache / local.key / "bin" / "hello"
    out = subprocess.run([binary], capture_output=True, text=True, check=True).stdout
    assert out == "hello from source\n"
    assert build_one(local, say=lines.append) is None
    assert lines[-1].startswith(f"toolchain: {local.label} cached")
    assert not (tmp_path / "hello" / "hello").exists()  # nothing written into the source


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
