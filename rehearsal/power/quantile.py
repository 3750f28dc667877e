"""Prometheus' histogram_quantile over classic buckets, for many histograms at once.

The rule (promql/quantile.go, BucketQuantile): rank = q x count; the answer
lies in the first bucket whose cumulative count reaches the rank, linearly
interpolated from its lower bound (0 for the first bucket); a rank in the
+Inf bucket answers the largest finite bound; no observations answer NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def histogram_quantile(
    q: float, bounds: npt.ArrayLike, cumulative: npt.NDArray[np.floating] | npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """The q-quantile of each row of `cumulative` (counts <= each finite bound, then
    the +Inf count last), bounds being the finite upper bounds in ascending order."""
    edges = np.asarray(bounds, dtype=np.float64)
    cum = np.atleast_2d(np.asarray(cumulative, dtype=np.float64))
    total = cum[:, -1]
    finite = cum[:, :-1]
    rank = q * total
    reached = finite >= rank[:, None]
    # First finite bucket reaching the rank; len(edges) stands for +Inf.
    b = np.where(reached.any(axis=1), reached.argmax(axis=1), len(edges))
    inside = b < len(edges)
    bi = np.minimum(b, len(edges) - 1)
    rows = np.arange(len(cum))
    upper = edges[bi]
    lower = np.where(bi > 0, edges[np.maximum(bi - 1, 0)], 0.0)
    below = np.where(bi > 0, finite[rows, np.maximum(bi - 1, 0)], 0.0)
    count = finite[rows, bi] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        value = lower + (upper - lower) * (rank - below) / count
    value = np.where(inside, value, edges[-1])
    # A first bucket with a bound <= 0 answers its bound (no interpolation from 0).
    value = np.where(inside & (bi == 0) & (edges[0] <= 0), edges[0], value)
    return np.where(total > 0, value, np.nan)
