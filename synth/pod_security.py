"""Security contexts that satisfy the `restricted` Pod Security Standard.

The namespace enforces `restricted`, so a pod without these is rejected at
admission; every workload chart builds its contexts here.
"""

from __future__ import annotations

from cdk8s_plus_33 import k8s

from stack.config import Resources


def restricted_pod(*, run_as_user: int, fs_group: int | None = None) -> k8s.PodSecurityContext:
    """Non-root with a numeric UID (images with named users fail runAsNonRoot)."""
    return k8s.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=run_as_user,
        run_as_group=run_as_user,
        fs_group=fs_group if fs_group is not None else run_as_user,
        seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
    )


def restricted_container() -> k8s.SecurityContext:
    return k8s.SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=k8s.Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
    )


def resources(sizes: Resources) -> k8s.ResourceRequirements:
    """Requests and limits (a container without both is rejected by the tests)."""
    return k8s.ResourceRequirements(
        requests={
            "cpu": k8s.Quantity.from_string(sizes.cpu_request),
            "memory": k8s.Quantity.from_string(sizes.memory_request),
        },
        limits={
            "cpu": k8s.Quantity.from_string(sizes.cpu_limit),
            "memory": k8s.Quantity.from_string(sizes.memory_limit),
        },
    )


def empty_dir(name: str, *, size_limit: str = "64Mi", memory: bool = False) -> k8s.Volume:
    """A bounded scratch volume (the root filesystem is read-only)."""
    return k8s.Volume(
        name=name,
        empty_dir=k8s.EmptyDirVolumeSource(
            medium="Memory" if memory else None,
            size_limit=k8s.Quantity.from_string(size_limit),
        ),
    )
