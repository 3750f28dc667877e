"""grafanalib's JSON brought to Grafana's current dashboard model.

grafanalib (no release since January 2024) still writes fields of the old
row-based dashboards that Grafana has dropped, and leaves out panel options
that Grafana's model now requires. This module is the one place that knows
the difference; the grafana-check toolchain binary (grafana-foundation-sdk's
strict decoding and Validate()) proves the result in the tests.
"""

from __future__ import annotations

from typing import Any

# Legacy fields Grafana's model no longer has, per level of the JSON.
DASHBOARD_LEGACY = ("__inputs", "hideControls", "rows", "sharedCrosshair", "style")
TIMEPICKER_LEGACY = ("time_options",)
PANEL_LEGACY = ("editable", "error", "height", "minSpan", "span")
# The old Angular table's own fields (the current table reads fieldConfig).
TABLE_LEGACY = ("color", "columns", "fontSize", "mappings")
TARGET_LEGACY = ("metric", "query", "step", "target")
VARIABLE_LEGACY = ("tagValuesQuery", "tagsQuery", "useTags")
OPTION_LEGACY = ("tags",)

# Options the current panel plugins require, at their Grafana defaults.
STAT_OPTIONS = {"percentChangeColorMode": "standard", "showPercentChange": False,
                "wideLayout": True}  # fmt: skip
TABLE_OPTIONS = {"frameIndex": 0}
TABLE_FIELD_CUSTOM = {"inspect": False}
LEGEND_OPTIONS = {"showLegend": True}


def _drop(obj: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        obj.pop(key, None)


def _fill(obj: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        obj.setdefault(key, value)


def _panel(panel: dict[str, Any]) -> None:
    _drop(panel, PANEL_LEGACY)
    for target in panel.get("targets", []):
        _drop(target, TARGET_LEGACY)
    options = panel.setdefault("options", {})
    kind = panel.get("type")
    if kind == "stat":
        _fill(options, STAT_OPTIONS)
    elif kind == "table":
        _drop(panel, TABLE_LEGACY)
        _fill(options, TABLE_OPTIONS)
        custom = panel.setdefault("fieldConfig", {}).setdefault("defaults", {})
        _fill(custom.setdefault("custom", {}), TABLE_FIELD_CUSTOM)
    if "legend" in options:
        _fill(options["legend"], LEGEND_OPTIONS)


def _variable(variable: dict[str, Any]) -> None:
    _drop(variable, VARIABLE_LEGACY)
    if isinstance(variable.get("current"), dict):
        _drop(variable["current"], OPTION_LEGACY)


def current_model(dashboard: dict[str, Any]) -> dict[str, Any]:
    """`dashboard` (grafanalib's JSON as plain data) in Grafana's current model, in place."""
    _drop(dashboard, DASHBOARD_LEGACY)
    _drop(dashboard.get("timepicker", {}), TIMEPICKER_LEGACY)
    for panel in dashboard.get("panels", []):
        _panel(panel)
    for variable in dashboard.get("templating", {}).get("list", []):
        _variable(variable)
    return dashboard
