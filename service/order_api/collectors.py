"""A labelled counter and histogram that record without a lock or a call into
prometheus_client, exposed through its registry as ordinary families.

prometheus_client's Counter and Histogram take a lock and go through several
Python calls per `inc()` / `observe()`: a few microseconds per request. The
server records from one event-loop thread and scrapes from the same thread,
so plain attribute arithmetic is exact; `collect()` renders the same samples
(names, labels, float values, order) those classes would.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

C = TypeVar("C")


class CounterChild:
    """One label set's count."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters can only be incremented by non-negative amounts")
        self.value += amount


class HistogramChild:
    """One label set's observations: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf's
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        # The first bound >= amount: Prometheus buckets are "less than or equal".
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


class _Labelled(Generic[C]):
    """A collector of children keyed by label values, registered in `registry`."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        new_child: Callable[[], C],
    ) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = tuple(labelnames)
        self._new_child = new_child
        self._children: dict[tuple[str, ...], C] = {}
        registry.register(self)

    def labels(self, *values: str) -> C:
        """The child of these label values, created at its first use."""
        key = tuple(str(v) for v in values)
        if len(key) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {key}")
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> Iterator[Metric]:
        raise NotImplementedError

    def _family(self) -> Metric:
        raise NotImplementedError


class RequestCounter(_Labelled[CounterChild]):
    """A labelled counter; `name` without the `_total` suffix, as prometheus_client's."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
    ) -> None:
        super().__init__(name, documentation, labelnames, registry, CounterChild)

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in self._children.items():
            family.add_metric(values, child.value)
        yield family


class LatencyHistogram(_Labelled[HistogramChild]):
    """A labelled histogram with fixed bucket bounds (+Inf implied)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        *,
        buckets: Sequence[float],
    ) -> None:
        bounds = tuple(sorted(buckets))
        self._edges = [floatToGoString(b) for b in bounds] + ["+Inf"]
        super().__init__(name, documentation, labelnames, registry, lambda: HistogramChild(bounds))

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in self._children.items():
            cumulative, total = [], 0
            for edge, count in zip(self._edges, child.counts, strict=True):
                total += count
                cumulative.append((edge, float(total)))
            family.add_metric(values, cumulative, child.sum)
        yield family
