"""Lint rules for Grafana dashboard JSON, after grafana/dashboard-linter's
Prometheus rules, re-implemented here (its Go module drags in Grafana itself):

- template-datasource: a `datasource` variable of type prometheus, and every
  panel and query reads through it (`${datasource}`), so the dashboard works
  against any Prometheus it is imported next to;
- rate-interval: every rate()/irate() window is `$__rate_interval`, which
  Grafana keeps at >= 4 scrape intervals whatever the zoom;
- panel-units: every panel states the unit of its values;
- panel-targets: no data panel without queries;
- counter-aggregation: a counter (`*_total`, `*_count`, `*_sum`, `*_bucket`)
  is read through rate(), irate() or increase(), never raw.

An exception is a (rule, panel title) pair with its reason, like the linter's
exclusions file: visible, reviewed, never silent.

    python -m dashboards.dashboard_lint FILE...   # exit 1 on findings, 2 on unreadable input
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATASOURCE_VARIABLE = "datasource"
DATASOURCE_REFS = ("${datasource}", "$datasource")
# Panels that show no query results.
NO_DATA_PANELS = {"row", "text", "dashlist", "news", "annolist"}
RATE_FUNCTIONS = ("rate", "irate")
COUNTER_FUNCTIONS = ("rate", "irate", "increase")
COUNTER = re.compile(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*_(?:total|count|sum|bucket)\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
CALL = re.compile(r"([a-zA-Z_]+)\s*\($")

# (rule, panel title) -> why the rule does not apply there.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("counter-aggregation", "Rollouts"): (
        "counts rollouts in the range, including a counter's first sample: the raw "
        "series is compared with itself `offset $__range` (increase() alone misses a "
        "counter born inside the range)"
    ),
}


@dataclass(frozen=True)
class Finding:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: [{self.rule}] {self.message}"


def _mask_strings(expr: str) -> str:
    """Quoted label values blanked out (same length), so they never look like code."""
    return QUOTED.sub(lambda m: '"' + " " * (len(m[0]) - 2) + '"', expr)


def _enclosing_calls(expr: str, pos: int) -> list[str]:
    """The functions whose parentheses enclose `pos`, innermost first."""
    calls, depth = [], 0
    for i in range(pos - 1, -1, -1):
        if expr[i] == ")":
            depth += 1
        elif expr[i] == "(":
            if depth:
                depth -= 1
                continue
            match = CALL.search(expr[: i + 1])
            calls.append(match[1] if match else "")
    return calls


def _range_windows(expr: str, function: str) -> Iterator[str]:
    """The range of each `function(...[range])` in a masked expression."""
    for match in re.finditer(rf"\b{function}\s*\(", expr):
        depth, i = 1, match.end()
        while i < len(expr) and depth:
            depth += {"(": 1, ")": -1}.get(expr[i], 0)
            i += 1
        windows = re.findall(r"\[([^\]:]+)(?::[^\]]*)?\]", expr[match.end() : i])
        yield from windows or [""]


def _query_findings(where: str, expr: str) -> Iterator[Finding]:
    masked = _mask_strings(expr)
    for function in RATE_FUNCTIONS:
        for window in _range_windows(masked, function):
            if window.strip() != "$__rate_interval":
                message = f"{function}() over [{window}], not [$__rate_interval]"
                yield Finding("rate-interval", where, message)
    for match in COUNTER.finditer(masked):
        if not set(_enclosing_calls(masked, match.start())) & set(COUNTER_FUNCTIONS):
            message = f"counter {match[0]} is not read through rate/irate/increase"
            yield Finding("counter-aggregation", where, message)


def _uses_variable(datasource: Any) -> bool:
    uid = datasource.get("uid") if isinstance(datasource, dict) else datasource
    return uid in DATASOURCE_REFS


def _panel_findings(panel: dict[str, Any]) -> Iterator[Finding]:
    where = f"panel {panel.get('title', '?')!r}"
    if panel.get("type") in NO_DATA_PANELS:
        return
    targets = panel.get("targets") or []
    if not targets:
        yield Finding("panel-targets", where, "has no queries")
    if not _uses_variable(panel.get("datasource")):
        yield Finding("template-datasource", where, "does not read through ${datasource}")
    if not (panel.get("fieldConfig", {}).get("defaults", {}).get("unit") or "").strip():
        yield Finding("panel-units", where, "states no unit")
    for target in targets:
        ref = f"{where} query {target.get('refId', '?')}"
        if not _uses_variable(target.get("datasource", panel.get("datasource"))):
            yield Finding("template-datasource", ref, "does not read through ${datasource}")
        yield from _query_findings(ref, str(target.get("expr", "")))


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row's own panels


def lint(dashboard: dict[str, Any]) -> list[Finding]:
    """Every finding not covered by EXCEPTIONS."""
    variables = dashboard.get("templating", {}).get("list", [])
    found: list[Finding] = []
    if not any(v.get("type") == "datasource" and v.get("query") == "prometheus"
               and v.get("name") == DATASOURCE_VARIABLE for v in variables):  # fmt: skip
        message = f"no `{DATASOURCE_VARIABLE}` variable of type prometheus"
        found.append(Finding("template-datasource", "dashboard", message))
    for panel in _panels(dashboard):
        title = str(panel.get("title", ""))
        found += [f for f in _panel_findings(panel) if (f.rule, title) not in EXCEPTIONS]
    return found


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m dashboards.dashboard_lint FILE...", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            dashboard = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            print(f"dashboard_lint: {path}: cannot read a dashboard: {error}", file=sys.stderr)
            return 2
        findings = lint(dashboard)
        for finding in findings:
            print(f"{path}: {finding}")
        status = max(status, 1 if findings else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
