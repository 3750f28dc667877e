"""The report of a rehearsal (--report DIR): report.json (rehearsal.report.report_data),
report.md (rehearsal.report.report_markdown) and the PNG charts (rehearsal.report.report_charts)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from rehearsal.measure.prometheus_api import PrometheusAPI
from rehearsal.outcome import Outcome
from rehearsal.report.report_charts import CHARTS, draw
from rehearsal.report.report_data import outcome_json
from rehearsal.report.report_markdown import commit, markdown

__all__ = ["CHARTS", "write"]


def write(directory: Path, outcome: Outcome, prometheus: PrometheusAPI) -> list[Path]:
    """Write the report files into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    charts = [draw(chart, outcome, prometheus, directory / chart.file) for chart in CHARTS]
    data = outcome_json(outcome) | {"charts": charts}
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    md_path = directory / "report.md"
    ran_at = datetime.fromtimestamp(outcome.analysis_started_at or time.time(), UTC)
    md_path.write_text(
        markdown(outcome, charts, commit=commit(), ran_at=ran_at.strftime("%Y-%m-%d %H:%M UTC"))
    )
    return [json_path, md_path, *(directory / chart.file for chart in CHARTS)]
