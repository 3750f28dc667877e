"""The records both engines share: what the user asked for, how the release was
rehearsed, what each tick saw and the outcome. Engine-specific facts live in
records of their own (`ClusterFacts`), never as dummies in the shared ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal.measure.load import LoadCounts
from rehearsal.measure.prometheus_api import PrometheusAPI
from rehearsal.spec.canary_spec import Canary
from rehearsal.spec.flagger_analysis import Phase, Transition


@dataclass(frozen=True, kw_only=True)
class Ask:
    """What the user asked for (the command line), before an engine reads dist/."""

    dist: Path
    canary_name: str | None
    scenario: str
    canary_env: Mapping[str, str]  # on top of the scenario's
    speed: float
    rate: float | None
    scrape_interval_s: float
    primary_version: str | None
    canary_version: str | None
    values: Path | None  # extra settings for the synthesized release (Flagger engine)


@dataclass(frozen=True, kw_only=True)
class Listener:
    """What an engine tells its caller while it runs, in this order."""

    check_outputs: Callable[[], None]  # refuses --report/--junit before the run (ValueError)
    describe: Callable[[Canary, Options], None]  # the Canary and the options, once known
    announce: Callable[[str], None]  # one line of progress
    out: Callable[[TickRecord], None]  # each tick as it ends
    report: Callable[[Outcome, PrometheusAPI], None]  # before teardown, Prometheus still up


@dataclass(frozen=True, kw_only=True)
class Track:
    """How to start one order-api deployment (what Flagger copies on Promote)."""

    version: str
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MetricResult:
    name: str
    query: str
    value: float | None  # None: the query returned nothing or NaN
    min: float | None
    max: float | None
    error: str = ""
    unit: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None or self.error:
            return False
        too_low = self.min is not None and self.value < self.min
        too_high = self.max is not None and self.value > self.max
        return not (too_low or too_high)

    @property
    def verdict(self) -> str:
        """ "99.8 % >= 99 %", "no values found", "812 ms > 500 ms"."""
        if self.error:
            return f"error: {self.error}"
        if self.value is None:
            return "no values found"
        unit = f" {self.unit}" if self.unit else ""
        parts = []
        if self.min is not None:
            parts.append(f"{'>=' if self.value >= self.min else '<'} {self.min:g}{unit}")
        if self.max is not None:
            parts.append(f"{'<=' if self.value <= self.max else '>'} {self.max:g}{unit}")
        return f"{self.value:.4g}{unit} {' '.join(parts)}".strip()


@dataclass(frozen=True, kw_only=True)
class HookResult:
    name: str
    passed: bool
    detail: str
    load_started: bool | None = None  # a hey command: started, or dropped (False)


@dataclass(frozen=True, kw_only=True)
class LoadWindow:
    """When one run sent load, in seconds since the loadtester started."""

    hook: str
    start_s: float
    end_s: float | None  # None: still running


@dataclass(kw_only=True)
class ClusterFacts:
    """What only the real-Flagger engine knows."""

    production_factor: float  # production seconds per real second (60 s interval / 10 s)
    production_interval_s: float
    events: list[str] = field(default_factory=list)  # Flagger's, as Kubernetes kept them


@dataclass(frozen=True, kw_only=True)
class Options:
    """How the release was rehearsed, as either engine settled it."""

    dist: Path  # the folder the Canary was read from
    # The Canary's times over the real ones: the model divides by it; on Flagger the
    # applied Canary already holds the compressed interval, so 1.
    speed: float
    rate: float | None  # None: each hey command's own -q x -c
    scrape_interval_s: float
    primary: Track
    canary: Track
    host: str
    probe_body: str
    probe_path: str


@dataclass(frozen=True, kw_only=True)
class TickRecord:
    """One tick of Flagger's analysis: its decision, checks, load and weights."""

    tick: int
    slot: int  # the ticker slot: simulated time is slot x interval
    real_s: float  # since the analysis started
    simulated_s: float
    transition: Transition
    metrics: list[MetricResult]
    hooks: list[HookResult]
    load: LoadCounts  # responses since the previous tick
    routes: dict[str, int]  # the weights Traefik served after the tick
    # The model's ticker: missed ticks dropped before this one (a stall), and the share
    # of the metric window with load running. None: Flagger ticked (its ticker and its
    # loadtester are not observable), or, for the coverage, not an analysis tick.
    dropped_ticks: int | None = None
    load_coverage: float | None = None


@dataclass(kw_only=True)
class Outcome:
    """One rehearsal's timeline and verdict, whichever engine ran it."""

    canary: Canary
    options: Options
    ticks: list[TickRecord] = field(default_factory=list)
    startup_s: float = 0.0
    analysis_started_at: float = 0.0  # unix time
    analysis_started_mono: float = 0.0
    verdict_at: float = 0.0
    load_total: LoadCounts = field(default_factory=LoadCounts)
    # When each hey command sent load, s since analysis start: the model's loadtester
    # knows; Flagger's runs in the cluster, so its engine leaves this empty.
    load_windows: list[LoadWindow] = field(default_factory=list)
    after_verdict: LoadCounts = field(default_factory=LoadCounts)
    final_routes: dict[str, int] = field(default_factory=dict)
    # The canary never became ready: a failed release. The model starts the canary itself;
    # on Flagger a canary that does not boot fails Flagger's own analysis, in its ticks.
    boot_failure: str = ""
    interrupted: str = ""  # a partial run: the signal that stopped it
    # What only the real-Flagger engine knows; None: the model engine ran.
    cluster: ClusterFacts | None = None

    @property
    def engine(self) -> str:
        """ "model" (this package's loop) or "flagger" (the real Flagger on the local cluster)."""
        return "model" if self.cluster is None else "flagger"

    @property
    def phase(self) -> Phase:
        if self.boot_failure:
            return Phase.FAILED
        return self.ticks[-1].transition.after.phase if self.ticks else Phase.INITIALIZED

    @property
    def promoted(self) -> bool:
        return self.phase == Phase.SUCCEEDED

    @property
    def real_s(self) -> float:
        return max(0.0, self.verdict_at - self.analysis_started_at) if self.verdict_at else 0.0

    @property
    def simulated_s(self) -> float:
        return self.ticks[-1].simulated_s if self.ticks else 0.0

    @property
    def max_canary_weight(self) -> int:
        return max((t.transition.after.canary_weight for t in self.ticks), default=0)
