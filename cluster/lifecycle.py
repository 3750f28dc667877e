"""`up` and `down`: every step, and the clean-up that runs on any failure."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cluster import (
    addons,
    command_lines,
    container_cgroups,
    image_store,
    layout,
    metrics_server,
    netns,
    netpol,
    node,
    pki,
    supervisor,
)
from cluster.client import KubectlError, kubectl
from cluster.layout import Paths, paths
from cluster.profile import ClusterProfile, default_profile, running_profile, synthesized_profile
from cluster.traefik_install import traefik_for
from stack.config import ConfigError

Say = Callable[[str], None]
PROJECT = Path(__file__).resolve().parent.parent
POD_PROGRAMS = ("prometheus", "alertmanager", "loadtester", "flagger", "hey", "metrics-server")
NODE_PROGRAM = "kubelet"


class ClusterError(RuntimeError):
    """A failure with a message for the user (no traceback)."""


def _prerequisites() -> None:
    if os.geteuid() != 0:
        raise ClusterError("the local cluster needs root (network namespaces, mounts, iptables)")
    for tool in ("ip", "iptables", "openssl", "go", netpol.IPSET):
        if shutil.which(tool) is None:
            raise ClusterError(f"{tool} not found: install the Debian packages in the README")
    for plugin in ("bridge", "host-local", "loopback"):
        if not (layout.CNI_BIN_DIR / plugin).is_file():
            raise ClusterError(
                f"{layout.CNI_BIN_DIR / plugin} missing: "
                "apt-get install containernetworking-plugins"
            )


def is_running() -> bool:
    return netns.exists() or paths().root.exists()


def dead_components() -> list[str]:
    """The cluster's own processes (etcd, kube-apiserver, the node, ...) that
    have exited: a cluster with any of them is not fit to reuse."""
    recorded = supervisor.recorded(paths())
    return sorted(n for n, pid in recorded.items() if not supervisor.alive(pid))


def up(say: Say = print, timeout: float = 240, values_file: Path | None = None) -> float:
    """Bring the cluster up with the profile applied: dist/, or `values_file`
    synthesized into the run directory. Returns the seconds until Initialized."""
    started = time.monotonic()
    _prerequisites()
    if is_running():
        say("cluster: cleaning up a cluster left by an earlier run")
        down(say=lambda _line: None)
    p = paths()
    try:
        profile = _profile(p, values_file, say)
        _start(p, profile, say, started)
        _install(p, profile, say, started)
        _wait_canary(profile, say, started, timeout)
    except BaseException:
        say("cluster: up failed, stopping everything it started")
        down(say=lambda _line: None)
        raise
    elapsed = time.monotonic() - started
    canary = f"{profile.namespace}/{profile.app.name}"
    say(f"cluster: up, Canary {canary} Initialized after {elapsed:.1f} s")
    return elapsed


def _profile(p: Paths, values_file: Path | None, say: Say) -> ClusterProfile:
    """The run directory, and in it the profile's synthesized folder and its record."""
    p.root.mkdir(parents=True)
    os.chmod(p.root, 0o755)
    try:
        if values_file is None:
            profile = default_profile()
        else:
            say(f"cluster: synthesizing {values_file} into {p.synthesized}")
            profile = synthesized_profile(values_file, p.synthesized)
    except ConfigError as error:
        raise ClusterError(f"configuration error: {error}") from None
    p.profile.write_text(profile.record())
    return profile


def _progress(say: Say, started: float, line: str) -> None:
    say(f"cluster: [{time.monotonic() - started:5.1f} s] {line}")


def _tools() -> dict[str, Path]:
    from toolchain import ToolchainError, bin_path

    names = (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "kubectl",
        "coredns",
        *POD_PROGRAMS,
    )
    try:
        return {n: bin_path(n) for n in names}
    except ToolchainError as error:
        raise ClusterError(str(error)) from error


def _node_binary(say: Say, program: str = NODE_PROGRAM) -> Path:
    """The kubelet (or another local module) of the current sources: built after an edit."""
    from toolchain import ToolchainError, bin_path
    from toolchain.build import build
    from toolchain.components import select

    try:
        build(select([program]), say=say)
        return bin_path(program)
    except ToolchainError as error:
        raise ClusterError(str(error)) from error


def _start(p: Paths, profile: ClusterProfile, say: Say, started: float) -> None:
    tools = _tools()
    kubelet_bin = _node_binary(say)
    netpol_bin = _node_binary(say, netpol.PROGRAM)
    try:
        image_config = image_store.node_config(profile.config.app.image, say)
    except image_store.ImageStoreError as error:
        raise ClusterError(str(error)) from None
    _copy_programs(p, tools, kubelet_bin)
    # The project (its virtualenv) and the interpreter the virtualenv links to.
    _widen_modes(p, [PROJECT, Path(sys.executable).resolve()])
    pki.generate(p.pki)
    pki.kubeconfig(p.kubeconfig, p.pki)
    netns.create()
    _progress(say, started, f"network namespace {layout.NETNS}: lo and {layout.BRIDGE} only")
    supervisor.start(p, "etcd", command_lines.etcd(tools["etcd"], p))
    supervisor.start(p, "kube-apiserver", command_lines.apiserver(tools["kube-apiserver"], p))
    _wait(
        lambda: kubectl("get", "--raw=/readyz", check=False).returncode == 0,
        60,
        "kube-apiserver /readyz",
        p,
    )
    _progress(say, started, "etcd and kube-apiserver ready")
    supervisor.start(
        p,
        "kube-controller-manager",
        command_lines.controller_manager(tools["kube-controller-manager"], p),
    )
    supervisor.start(p, "kube-scheduler", command_lines.scheduler(tools["kube-scheduler"], p))
    supervisor.start(p, "kube-proxy", command_lines.kube_proxy(tools["kube-proxy"], p))
    supervisor.start(p, "coredns", command_lines.coredns(tools["coredns"], p))
    config = node.write_config(p, image_config)
    supervisor.start(p, NODE_PROGRAM, command_lines.kubelet(p.bin / NODE_PROGRAM, config))
    _wait(_node_ready, 60, f"node {layout.NODE_NAME} Ready", p)
    _progress(
        say,
        started,
        f"controller-manager, scheduler, kube-proxy, CoreDNS; node {layout.NODE_NAME} Ready",
    )
    try:
        netpol.start(p, netpol_bin, lambda check, what: _wait(check, 60, what, p))
    except netpol.NetpolError as error:
        raise ClusterError(str(error)) from error
    _progress(say, started, netpol.ENFORCING)


def _copy_programs(p: Paths, tools: dict[str, Path], kubelet_bin: Path) -> None:
    """Pods run as unprivileged users: give them copies they can reach."""
    p.bin.mkdir(parents=True)
    os.chmod(p.bin, 0o755)
    for name, src in [*((n, tools[n]) for n in POD_PROGRAMS), (NODE_PROGRAM, kubelet_bin)]:
        dst = p.bin / name
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        os.chmod(dst, 0o755)


def _widen_modes(p: Paths, targets: list[Path]) -> None:
    """o+x on the folders above targets, so pods (uid 10001, 65534) reach the virtualenv.

    Only the search bit, only where missing; `down` restores the recorded modes.
    """
    changed = {}
    for target in targets:
        for parent in [target, *target.parents]:
            mode = parent.stat().st_mode
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
                changed[str(parent)] = stat.S_IMODE(mode)
                os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)
    p.modes.write_text(json.dumps(changed))


def _restore_modes(p: Paths) -> None:
    try:
        changed = json.loads(p.modes.read_text())
    except (OSError, ValueError):
        return
    for path, mode in changed.items():
        with contextlib.suppress(OSError):
            os.chmod(path, mode)


def _node_ready() -> bool:
    result = kubectl(
        "get",
        "node",
        layout.NODE_NAME,
        "-o",
        "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        check=False,
    )
    return result.stdout.strip() == "True"


def _wait(check: Callable[[], bool], timeout: float, what: str, p: Paths) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        _check_processes(p)
        time.sleep(0.3)
    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what} (logs: {p.logs})")


def _check_processes(p: Paths) -> None:
    for name, pid in supervisor.recorded(p).items():
        if not supervisor.alive(pid):
            tail = (p.logs / f"{name}.log").read_text(errors="replace").strip().splitlines()[-5:]
            raise ClusterError(f"{name} exited:\n  " + "\n  ".join(tail))


def apply(manifests: list[addons.Manifest], *extra: str) -> str:
    doc = json.dumps(addons.as_list(manifests))
    return kubectl("apply", *extra, "-f", "-", input=doc).stdout


def _install(p: Paths, profile: ClusterProfile, say: Say, started: float) -> None:
    from toolchain import crds

    apply(addons.kube_dns())
    apply(metrics_server.manifests(profile.metrics_server_namespace))
    crd_args = [arg for f in crds.crd_files() for arg in ("-f", str(f))]
    kubectl("apply", "--server-side", *crd_args)
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    _progress(say, started, "Flagger and Traefik CRDs established")
    try:
        traefik = traefik_for(profile)
    except ConfigError as error:
        raise ClusterError(f"{profile.manifests}: HelmChartConfig: {error}") from None
    apply(addons.traefik(traefik))
    apply(addons.flagger(profile.flagger_namespace, profile.config))
    _progress(
        say,
        started,
        f"Traefik {traefik.image} (namespace {traefik.namespace}) and Flagger "
        f"({profile.flagger_namespace}) applied",
    )
    waited = metrics_server.wait_available(profile.metrics_server_namespace)
    _progress(say, started, f"APIService {metrics_server.API_SERVICE} Available ({waited:.1f} s)")
    # README, "The stack", step by step.
    kubectl("apply", "-f", str(profile.namespace_file))
    kubectl(
        "-n",
        profile.namespace,
        "create",
        "secret",
        "generic",
        profile.config.monitoring.grafana_admin_secret,
        "--from-literal=admin-user=admin",
        f"--from-literal=admin-password={secrets.token_urlsafe(24)}",
    )
    kubectl("apply", "-f", str(profile.manifests))
    _progress(say, started, f"kubectl apply -f {profile.manifests} done")


def _wait_canary(profile: ClusterProfile, say: Say, started: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        line = _snapshot(profile)
        if line != last:
            _progress(say, started, line)
            last = line
        if "canary Initialized" in line:
            return
        time.sleep(1)
    raise ClusterError(f"the Canary was not Initialized within {timeout:.0f} s ({last})")


def _snapshot(profile: ClusterProfile) -> str:
    phase = (
        kubectl(
            "-n",
            profile.namespace,
            "get",
            "canary",
            profile.app.name,
            "-o",
            "jsonpath={.status.phase}",
            check=False,
        ).stdout.strip()
        or "-"
    )
    pods = kubectl(
        "get",
        "pods",
        "-A",
        "--no-headers",
        "-o",
        "custom-columns=R:.status.containerStatuses[*].ready",
        check=False,
    ).stdout.split()
    ready = sum(1 for r in pods if r and all(x == "true" for x in r.split(",")))
    return f"pods ready {ready}/{len(pods)}, canary {phase}"


def down(say: Say = print) -> None:
    """Stop every process, delete the namespace, remove mount points and the run dir."""
    p = paths()
    supervisor.stop_all(p)
    container_cgroups.remove_leftovers(p.kubelet_dir)
    netns.delete()
    _remove_mountpoints(p)
    _restore_modes(p)
    if p.root.exists():
        _unmount_below(p.root)
        shutil.rmtree(p.root, ignore_errors=True)
    say("cluster: down (no process, namespace or run directory left)")


def _remove_mountpoints(p: Paths) -> None:
    try:
        created = p.mountpoints.read_text().split()
    except OSError:
        return
    for path in sorted(set(created), key=lambda s: -s.count("/")):
        try:
            target = Path(path)
            target.rmdir() if target.is_dir() else target.unlink()
        except OSError:
            pass


def _unmount_below(root: Path) -> None:
    """Safety net: a mount below the run dir in the host namespace (none expected)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((m for m in points if m.startswith(str(root) + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def status(say: Say = print) -> int:
    if not netns.exists():
        say("cluster: not running (python -m cluster up)")
        return 1
    dead = dead_components()
    profile = running_profile()
    if dead:
        say(f"cluster: {', '.join(dead)} exited; `python -m cluster up` starts it afresh")
    for args in (
        ("get", "nodes", "-o", "wide"),
        ("get", "pods", "-A", "-o", "wide"),
        ("-n", profile.namespace, "get", "canary"),
    ):
        try:
            say(kubectl(*args).stdout.rstrip())
        except KubectlError as error:
            say(str(error))
    return 1 if dead else 0
