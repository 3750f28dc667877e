"""HTTP probes for every container the stack runs (the tests require both)."""

from __future__ import annotations

from cdk8s_plus_33 import k8s


def http_probe(
    path: str,
    *,
    port: int | str,
    period_s: int,
    timeout_s: int = 5,
    failures: int | None = None,
    initial_delay_s: int | None = None,
) -> k8s.Probe:
    """GET `path` on `port` (a number, or a container port's name)."""
    target = (
        k8s.IntOrString.from_string(port)
        if isinstance(port, str)
        else k8s.IntOrString.from_number(port)
    )
    return k8s.Probe(
        http_get=k8s.HttpGetAction(path=path, port=target),
        period_seconds=period_s,
        timeout_seconds=timeout_s,
        failure_threshold=failures,
        initial_delay_seconds=initial_delay_s,
    )
