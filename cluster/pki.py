"""Certificates and keys generated at `up` (openssl from Debian), one CA."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cluster import layout


@dataclass(frozen=True)
class Cert:
    name: str
    subject: str
    sans: tuple[str, ...] = ()
    server: bool = False
    ca: str = "ca"


# The aggregation layer's own CA: the API server proves with its client cert
# that the user headers it adds when proxying to metrics-server are its own.
FRONT_PROXY_CA = "front-proxy-ca"
FRONT_PROXY_CLIENT = "front-proxy-client"


APISERVER_SANS = (
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    f"DNS:kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
    "DNS:localhost",
    "IP:127.0.0.1",
    f"IP:{layout.NODE_IP}",
    f"IP:{layout.KUBERNETES_SERVICE_IP}",
)

CERTS = (
    Cert("apiserver", "/CN=kube-apiserver", APISERVER_SANS, server=True),
    Cert(
        "kubelet",
        f"/CN={layout.NODE_NAME}",
        (f"DNS:{layout.NODE_NAME}", f"IP:{layout.NODE_IP}"),
        True,
    ),
    # Clients in system:masters: the control plane, the node and the admin.
    Cert("admin", "/O=system:masters/CN=kubernetes-admin"),
    Cert("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"),
    Cert(FRONT_PROXY_CLIENT, f"/CN={FRONT_PROXY_CLIENT}", ca=FRONT_PROXY_CA),
)


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _key(path: Path, cwd: Path) -> None:
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(path),
        cwd=cwd,
    )


def _ca(pki: Path, name: str, subject: str) -> None:
    _key(pki / f"{name}.key", pki)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        f"{name}.key",
        "-subj",
        subject,
        "-days",
        "30",
        "-out",
        f"{name}.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=pki,
    )


def generate(pki: Path) -> None:
    """The CAs, service-account key pair and every certificate of CERTS into pki/."""
    pki.mkdir(parents=True, exist_ok=True)
    _ca(pki, "ca", "/CN=order-api-sre-ca")
    _ca(pki, FRONT_PROXY_CA, "/CN=order-api-sre-front-proxy-ca")
    _key(pki / "sa.key", pki)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for cert in CERTS:
        _issue(pki, cert)


def _issue(pki: Path, cert: Cert) -> None:
    _key(pki / f"{cert.name}.key", pki)
    _openssl(
        "req",
        "-new",
        "-key",
        f"{cert.name}.key",
        "-subj",
        cert.subject,
        "-out",
        f"{cert.name}.csr",
        cwd=pki,
    )
    usage = "serverAuth" if cert.server else "clientAuth"
    ext = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if cert.sans:
        ext.append("subjectAltName=" + ",".join(cert.sans))
    (pki / f"{cert.name}.ext").write_text("\n".join(ext) + "\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{cert.name}.csr",
        "-CA",
        f"{cert.ca}.crt",
        "-CAkey",
        f"{cert.ca}.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        f"{cert.name}.ext",
        "-out",
        f"{cert.name}.crt",
        cwd=pki,
    )


def kubeconfig(path: Path, pki: Path, user: str = "admin") -> None:
    """A kubeconfig for the apiserver on the namespace's loopback."""
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: order-api-sre
  cluster:
    server: https://127.0.0.1:{layout.APISERVER_PORT}
    certificate-authority: {pki / "ca.crt"}
users:
- name: {user}
  user:
    client-certificate: {pki / f"{user}.crt"}
    client-key: {pki / f"{user}.key"}
contexts:
- name: order-api-sre
  context: {{cluster: order-api-sre, user: {user}}}
current-context: order-api-sre
"""
    )
