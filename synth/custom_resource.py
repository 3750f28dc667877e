"""Custom resources (Flagger, Traefik) as plain cdk8s ApiObjects.

cdk8s's ApiObject takes no `spec=`; the body is added with a JSON patch. The
CRs are validated against the upstream CRD schemas in the tests instead of
generated typed classes (no `cdk8s import` step for users).
"""

from __future__ import annotations

from typing import Any

import cdk8s
from constructs import Construct


def custom_resource(
    scope: Construct,
    construct_id: str,
    *,
    api_version: str,
    kind: str,
    name: str,
    namespace: str,
    labels: dict[str, str],
    spec: dict[str, Any],
) -> cdk8s.ApiObject:
    obj = cdk8s.ApiObject(
        scope,
        construct_id,
        api_version=api_version,
        kind=kind,
        metadata=cdk8s.ApiObjectMetadata(name=name, namespace=namespace, labels=labels),
    )
    obj.add_json_patch(cdk8s.JsonPatch.add("/spec", spec))
    return obj
