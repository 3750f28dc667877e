"""The argv of every control-plane process (flags, addresses, files)."""

from __future__ import annotations

from pathlib import Path

from cluster import layout, pki
from cluster.layout import Paths

ISSUER = f"https://kubernetes.default.svc.{layout.CLUSTER_DOMAIN}"


def etcd(tool: Path, p: Paths) -> list[str]:
    return [
        str(tool),
        "--name=default",
        f"--data-dir={p.etcd_data}",
        f"--listen-client-urls={layout.ETCD_CLIENT}",
        f"--advertise-client-urls={layout.ETCD_CLIENT}",
        f"--listen-peer-urls={layout.ETCD_PEER}",
        f"--initial-advertise-peer-urls={layout.ETCD_PEER}",
        f"--initial-cluster=default={layout.ETCD_PEER}",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        # Throw-away data: skip fsync, the machine's disk is the bottleneck otherwise.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver(tool: Path, p: Paths) -> list[str]:
    k = p.pki
    return [
        str(tool),
        f"--etcd-servers={layout.ETCD_CLIENT}",
        "--bind-address=0.0.0.0",
        f"--advertise-address={layout.NODE_IP}",
        f"--secure-port={layout.APISERVER_PORT}",
        f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
        f"--tls-cert-file={k / 'apiserver.crt'}",
        f"--tls-private-key-file={k / 'apiserver.key'}",
        f"--client-ca-file={k / 'ca.crt'}",
        "--authorization-mode=Node,RBAC",
        # The defaults (NamespaceLifecycle, ServiceAccount, PodSecurity, ...) plus:
        "--enable-admission-plugins=NodeRestriction",
        f"--service-account-issuer={ISSUER}",
        f"--service-account-key-file={k / 'sa.pub'}",
        f"--service-account-signing-key-file={k / 'sa.key'}",
        f"--kubelet-client-certificate={k / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={k / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={k / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        *aggregation(p),
        "--allow-privileged=true",
        "--profiling=false",
        "--v=0",
    ]


def aggregation(p: Paths) -> list[str]:
    """The aggregation layer (metrics.k8s.io): the API server proxies to
    metrics-server with the front-proxy client cert and the user in headers."""
    k = p.pki
    return [
        f"--requestheader-client-ca-file={k / (pki.FRONT_PROXY_CA + '.crt')}",
        f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={k / (pki.FRONT_PROXY_CLIENT + '.crt')}",
        f"--proxy-client-key-file={k / (pki.FRONT_PROXY_CLIENT + '.key')}",
    ]


def controller_manager(tool: Path, p: Paths) -> list[str]:
    k = p.pki
    return [
        str(tool),
        f"--kubeconfig={p.kubeconfig}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
        f"--service-account-private-key-file={k / 'sa.key'}",
        f"--root-ca-file={k / 'ca.crt'}",
        f"--cluster-signing-cert-file={k / 'ca.crt'}",
        f"--cluster-signing-key-file={k / 'ca.key'}",
        f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
        "--use-service-account-credentials=true",
        "--controllers=*,-nodeipam",
        "--node-monitor-grace-period=40s",
    ]


def scheduler(tool: Path, p: Paths) -> list[str]:
    return [
        str(tool),
        f"--kubeconfig={p.kubeconfig}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ]


def kube_proxy(tool: Path, p: Paths) -> list[str]:
    return [
        str(tool),
        f"--kubeconfig={p.kubeconfig}",
        "--proxy-mode=iptables",
        # No br_netfilter on the bridge path: masquerade every service packet so
        # replies return through the namespace's conntrack (pod to own service too).
        "--masquerade-all",
        f"--cluster-cidr={layout.POD_CIDR}",
        f"--hostname-override={layout.NODE_NAME}",
        "--conntrack-max-per-core=0",
        "--metrics-bind-address=127.0.0.1:10249",
        "--healthz-bind-address=127.0.0.1:10256",
    ]


def corefile(p: Paths) -> str:
    # No forward plugin: a name outside cluster.local gets an error answer at once.
    return f""".:53 {{
    bind {layout.NODE_IP} 127.0.0.1
    errors
    health 127.0.0.1:8081
    ready 127.0.0.1:8181
    kubernetes {layout.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {p.kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""


def coredns(tool: Path, p: Paths) -> list[str]:
    f = p.root / "Corefile"
    f.write_text(corefile(p))
    return [str(tool), "-conf", str(f)]


def kubelet(tool: Path, config: Path) -> list[str]:
    return [str(tool), f"--config={config}"]
