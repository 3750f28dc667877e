"""The policy controller's start without a cluster: its flags, the first-sync
check, and the prerequisite that names ipset."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import layout, lifecycle, netpol
from cluster.layout import Paths

SYNCED = "\n".join(
    [
        f'-A {chain} -m comment --comment "{netpol.SYNCED_MARK}" -j ACCEPT'
        for chain in netpol.TOP_CHAINS
    ]
)


def test_the_controller_gets_the_nodes_name_and_the_service_range(tmp_path: Path) -> None:
    argv = netpol.argv(Path("/bin/kube-router-netpol"), Paths(tmp_path))
    assert f"--hostname-override={layout.NODE_NAME}" in argv
    assert f"--service-cluster-ip-range={layout.SERVICE_CIDR}" in argv
    assert f"--kubeconfig={Paths(tmp_path).kubeconfig}" in argv
    assert "--kube-proxy-first" in argv


@pytest.mark.parametrize(
    ("table", "synced"),
    [
        ("", False),
        # The top chains exist before the first sync; its ACCEPT rules come with it.
        ("\n".join(f":{chain} - [0:0]" for chain in netpol.TOP_CHAINS), False),
        (SYNCED, True),
    ],
)
def test_synced_means_the_first_full_sync_is_written(
    monkeypatch: pytest.MonkeyPatch, table: str, synced: bool
) -> None:
    monkeypatch.setattr(netpol, "filter_table", lambda: table)
    assert netpol.synced() is synced


def test_up_names_ipset_when_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        lifecycle.shutil, "which", lambda tool: None if tool == netpol.IPSET else f"/usr/bin/{tool}"
    )
    with pytest.raises(lifecycle.ClusterError, match=r"^ipset not found"):
        lifecycle._prerequisites()
