"""kubectl inside the cluster's namespace, with the admin kubeconfig."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from cluster import netns
from cluster.layout import paths


def kubectl_argv(*args: str) -> list[str]:
    from toolchain import bin_path

    return netns.inside([str(bin_path("kubectl")), f"--kubeconfig={paths().kubeconfig}", *args])


def kubectl(
    *args: str, input: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        kubectl_argv(*args), input=input, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise KubectlError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result


def get_json(*args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


class KubectlError(RuntimeError):
    pass
