"""Flagger's rendering of a MetricTemplate query (Go text/template, Flagger's
functions), for the rehearsal: Flagger renders it in the cluster, nothing else
in the project does."""

from __future__ import annotations

import re
from collections.abc import Mapping


class TemplateError(ValueError):
    """A Flagger query template uses something Flagger would not render."""


# `{{ name }}`, `{{ variables.key }}`, with Go's `{{-` / `-}}` trim markers.
_ACTION = re.compile(r"(\s*)\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}(\s*)", re.DOTALL)
_NAME = re.compile(r"([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?")


def render_flagger_template(
    text: str,
    *,
    namespace: str,
    target: str,
    interval: str,
    variables: Mapping[str, str] | None = None,
    name: str = "",
    service: str = "",
    ingress: str = "",
    route: str = "",
) -> str:
    """Render a MetricTemplate query the way Flagger does.

    Flagger runs the query through Go's text/template with one niladic function
    per model field (name, namespace, target, service, ingress, route,
    interval) and `variables` returning the Canary's templateVariables.
    Anything else (pipelines, conditionals, unknown names, a missing variable)
    is a TemplateError here, where Go would fail or print "<no value>".
    """
    fields = {
        "name": name,
        "namespace": namespace,
        "target": target,
        "service": service,
        "ingress": ingress,
        "route": route,
        "interval": interval,
    }
    variables = dict(variables or {})

    def action(match: re.Match[str]) -> str:
        lead, trim_left, body, trim_right, tail = match.groups()
        parsed = _NAME.fullmatch(body)
        if parsed is None:
            raise TemplateError(f"unsupported template action {{{{ {body} }}}}")
        func, key = parsed.groups()
        if func == "variables" and key is not None:
            if key not in variables:
                raise TemplateError(
                    f"template variable {key!r} is not set (variables: {variables})"
                )
            value = variables[key]
        elif func in fields and key is None:
            value = fields[func]
        else:
            raise TemplateError(f"function {body!r} not defined in Flagger's query templates")
        return ("" if trim_left else lead) + value + ("" if trim_right else tail)

    rendered = _ACTION.sub(action, text)
    if "{{" in rendered or "}}" in rendered:
        raise TemplateError(f"unbalanced template braces in {text!r}")
    return rendered
