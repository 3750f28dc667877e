"""The release a Flagger rehearsal applies: synthesized by synth from a values file.

The same code path as `make synth` (`synth.main.synthesize(load_config(...))`),
with only these settings changed from the user's configuration:
- the image tag (the new version) and the scenario's faults
  (`app.fault_error_rate`, `app.fault_delay_ms`);
- the time settings: Flagger's analysis interval cannot go below 10 s, so the
  rehearsal runs at that floor, and everything timed scales by the same ratio
  (60 s / 10 s = 6 for the defaults): the metric windows and the scrape
  interval shrink by it, and the load rate (`canary.load_rps`) grows by it,
  so that a window holds as many orders as in production (see `time_settings`).
Extra values (a `--values` file: `canary.step_weights`, gates) may be merged in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from order_api.settings import ENV_FAULT_DELAY_MS, ENV_FAULT_ERROR_RATE
from rehearsal.spec.duration_text import parse_duration
from stack.config import VALUES_ENV, ConfigError, StackConfig, load_config
from stack.names import ERROR_RATE
from stack.validation import MIN_ANALYSIS_INTERVAL_S
from synth.manifest_files import file_holding

VALUES_FILE = "rehearsal-values.yaml"
MIN_SCRAPE_S = 2
# A window must hold a few scrapes for rate() (the config needs two).
MIN_SCRAPES_PER_WINDOW = 4


@dataclass(frozen=True, kw_only=True)
class TimeSettings:
    interval_s: int
    metric_window_s: int
    scrape_interval_s: int
    load_rps: int
    production_interval_s: int

    @property
    def factor(self) -> float:
        """Production seconds per rehearsal second (60 s / 10 s = 6)."""
        return self.production_interval_s / self.interval_s


def time_settings(production: StackConfig) -> TimeSettings:
    """Flagger's floor for the interval; windows, scrapes and the load rate scaled by
    the same ratio.

    Keeping the orders per window is what keeps the verdicts: at 10 orders/s a
    10 s window at a 10 % weight would hold 10 canary orders instead of
    production's 60, and a 20 % error rate would pass one window in nine."""
    k, m = production.canary, production.monitoring
    interval = MIN_ANALYSIS_INTERVAL_S
    ratio = k.interval_s / interval
    scrape = max(MIN_SCRAPE_S, math.floor(m.scrape_interval_s / ratio))
    window = max(round(k.metric_window_s / ratio), MIN_SCRAPES_PER_WINDOW * scrape)
    return TimeSettings(
        interval_s=interval,
        metric_window_s=window,
        scrape_interval_s=scrape,
        load_rps=max(1, round(k.load_rps * ratio)),
        production_interval_s=k.interval_s,
    )


def faults_values(env: Mapping[str, str]) -> dict[str, Any]:
    """A scenario's canary environment as the app's config settings.

    Only the two fault settings exist in the config; anything else is refused
    (the engine runs the Deployment that synth writes, not a hand-made one)."""
    known = {ENV_FAULT_ERROR_RATE: "fault_error_rate", ENV_FAULT_DELAY_MS: "fault_delay_ms"}
    unknown = sorted(set(env) - set(known))
    if unknown:
        raise ConfigError(
            f"--canary-env {', '.join(unknown)}: the Flagger engine can set only "
            f"{' and '.join(known)} (through app.fault_error_rate / app.fault_delay_ms)"
        )
    values: dict[str, Any] = {}
    if ENV_FAULT_ERROR_RATE in env:
        values["fault_error_rate"] = float(env[ENV_FAULT_ERROR_RATE])
    if ENV_FAULT_DELAY_MS in env:
        values["fault_delay_ms"] = round(float(env[ENV_FAULT_DELAY_MS]))
    return values


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Nested mappings merged, `extra` winning."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_values(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read values file: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return data


def release_values(
    *,
    version: str,
    faults: Mapping[str, Any],
    times: TimeSettings,
    user_values: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The values file: the user's own values, the extra ones, then the rehearsal's."""
    own = {
        "app": {"image_tag": version, "fault_error_rate": 0.0, "fault_delay_ms": 0, **faults},
        "canary": {
            "interval_s": times.interval_s,
            "metric_window_s": times.metric_window_s,
            "load_rps": times.load_rps,
        },
        "monitoring": {"scrape_interval_s": times.scrape_interval_s},
    }
    return merge(merge(dict(user_values or {}), dict(extra or {})), own)


def user_values(env: Mapping[str, str]) -> dict[str, Any]:
    """The values file the user's `make synth` would read (ORDER_API_SRE_VALUES)."""
    return _read_values(Path(env[VALUES_ENV])) if env.get(VALUES_ENV) else {}


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _get(config: StackConfig, dotted: str) -> Any:
    obj: Any = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return list(obj) if isinstance(obj, tuple) else obj


def synthesize_release(values: Mapping[str, Any], folder: Path, env: Mapping[str, str]) -> Path:
    """Write `values` beside `folder` and synthesize the stack into `folder`.

    Environment overrides still apply (as in `make synth`), but one that
    changes a setting the rehearsal sets is refused: the run would not be
    the one it prints."""
    from synth.main import synthesize

    folder.parent.mkdir(parents=True, exist_ok=True)
    values_path = folder.parent / VALUES_FILE
    values_path.write_text(yaml.safe_dump(values, sort_keys=False))
    config = load_config(env=env, values_file=values_path)
    for dotted, wanted in _flatten(values).items():
        got = _get(config, dotted)
        if got != wanted:
            variable = "ORDER_API_SRE_" + "__".join(p.upper() for p in dotted.split("."))
            raise ConfigError(
                f"{variable}={got!r} overrides the rehearsal's {dotted}={wanted!r}: unset it"
            )
    synthesize(config, folder)
    return values_path


def config_of(values_path: Path) -> StackConfig:
    return load_config(env={}, values_file=values_path)


def _canary_docs(path: Path) -> tuple[list[Any], dict[str, Any]]:
    """The documents of a synthesized Canary file, and its Canary."""
    docs = list(yaml.safe_load_all(path.read_text()))
    canary = next((d for d in docs if d and d.get("kind") == "Canary"), None)
    if canary is None:
        raise ConfigError(f"{path}: no Canary in this file")
    return docs, canary


# How far the pre-fix Canary's timing stays from each race it would otherwise run.
RACE_MARGIN_S = 2


def without_load_start(folder: Path, *, margin_s: int = RACE_MARGIN_S) -> None:
    """The Canary as it was before the load-test fix: no pre-rollout `load-test-start`,
    so its first analysis has no traffic, and only the rollout `load-test` `hey`,
    whose next call the loadtester drops while it still runs (every second window
    empty).

    With `hey -z <interval>` as it was, both depend on a race of milliseconds
    (does hey exit before Flagger's next call? does its last request fall inside
    the next window?), so a run's verdict would be luck. Here `margin_s` settles
    each race: the interval grows to the longest metric window + 2 margins, and
    hey runs interval + margin. So the next call surely finds hey running and is
    dropped, and the window after it surely starts after hey's last request."""
    path = file_holding(folder, "Canary")
    docs, canary = _canary_docs(path)
    analysis = canary["spec"]["analysis"]
    window = max(round(parse_duration(str(m["interval"]))) for m in analysis["metrics"])
    interval = window + 2 * margin_s
    hooks = analysis["webhooks"]
    loads = [h for h in hooks if str(h.get("metadata", {}).get("cmd", "")).startswith("hey ")]
    if not loads:
        raise ConfigError(f"{path}: no hey webhook to edit")
    analysis["interval"] = f"{interval}s"
    analysis["webhooks"] = [h for h in hooks if h.get("type") != "pre-rollout" or h not in loads]
    for hook in analysis["webhooks"]:
        if hook in loads:
            cmd = hook["metadata"]["cmd"]
            hook["metadata"]["cmd"] = re.sub(r"-z\s+\S+", f"-z {interval + margin_s}s", cmd)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


# Not PromQL: Prometheus answers 400 bad_data, a query error rather than no values.
FAILING_QUERY = "sum(rate(http_requests_total[{{ interval }}])) by ("


def with_failing_query(folder: Path, *, metric: str = ERROR_RATE) -> None:
    """The Canary with one template metric's query broken, to show what Flagger does
    when a metric query errors (a failed check, as for no values)."""
    path = file_holding(folder, "Canary")
    docs, canary = _canary_docs(path)
    metrics = canary["spec"]["analysis"]["metrics"]
    ref = next((m.get("templateRef") for m in metrics if m["name"] == metric), None)
    if not ref:
        raise ConfigError(f"{path}: no template metric {metric!r} to break")
    template = next(
        (
            d
            for d in docs
            if d and d.get("kind") == "MetricTemplate" and d["metadata"]["name"] == ref["name"]
        ),
        None,
    )
    if template is None:
        raise ConfigError(f"{path}: MetricTemplate {ref['name']!r} not in this file")
    template["spec"]["query"] = FAILING_QUERY
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
