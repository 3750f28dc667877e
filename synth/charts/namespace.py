"""The namespace, enforcing the `restricted` Pod Security Standard."""

from __future__ import annotations

import cdk8s
from cdk8s_plus_33 import k8s
from constructs import Construct

from stack.config import StackConfig
from stack.names import component_labels

PSS_LEVEL = "restricted"


class NamespaceChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        # enforce rejects violating pods; audit and warn make kubectl say why.
        pss = {
            f"pod-security.kubernetes.io/{mode}": PSS_LEVEL for mode in ("enforce", "audit", "warn")
        }
        pss["pod-security.kubernetes.io/enforce-version"] = "latest"
        k8s.KubeNamespace(
            self,
            "namespace",
            metadata=k8s.ObjectMeta(
                name=config.namespace,
                labels={**component_labels(config.namespace), **pss},
            ),
        )
