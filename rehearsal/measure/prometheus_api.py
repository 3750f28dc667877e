"""A small client of the Prometheus HTTP API; `get` is how a request travels
(loopback for the model engine, the cluster's network namespace for Flagger's)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from rehearsal.failures import ComponentError
from rehearsal.measure.http_probe import http_get


class PrometheusAPI:
    """The HTTP API calls the rehearsal makes; `get` is how a request travels."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    def get(self, url: str) -> tuple[int, bytes]:
        return http_get(url, timeout=10.0)

    def api(self, endpoint: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        status, body = self.get(f"{self.url}/api/v1/{endpoint}?{query}")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"error": f"HTTP {status}, not JSON"}
        if status != 200 or payload.get("status") != "success":
            raise ComponentError(
                f"Prometheus at {self.url} /api/v1/{endpoint}: {payload.get('error', status)}"
            )
        return payload["data"]

    def query(self, expr: str, *, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """Instant query; returns (labels, value) per series (scalars get no labels)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=str(step))
        return [
            (s["metric"], [(float(t), float(v)) for t, v in s["values"]]) for s in data["result"]
        ]
