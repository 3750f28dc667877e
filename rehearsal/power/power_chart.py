"""The two P(promote) curves as one PNG."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from rehearsal.power.curves import DETECTION_PROMOTE, Summary


def write_chart(summary: Summary, title: str, path: Path) -> None:
    """Write the chart next to `path` first, so a failed write keeps the old one."""
    fig, (errors, latency, times) = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    errors.plot(
        [p.x * 100 for p in summary.error_curve],
        [p.p_promote for p in summary.error_curve],
        marker=".",
    )
    errors.set_xlabel("canary's true error rate (%)")
    latency.plot(
        [p.x for p in summary.latency_curve],
        [p.p_promote for p in summary.latency_curve],
        marker=".",
        color="tab:orange",
    )
    latency.set_xlabel("canary's latency shift (ms)")
    for ax in (errors, latency):
        ax.set_ylabel("P(promote)")
        ax.set_ylim(-0.02, 1.02)
        ax.axhline(DETECTION_PROMOTE, color="grey", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    minutes = [float(t) / 60 for t in summary.rollback_share]
    times.bar(minutes, list(summary.rollback_share.values()), width=0.6, color="tab:red")
    times.set_xlabel(f"minutes to a rollback at {summary.bad_error_rate * 100:.3g} % errors")
    times.set_ylabel("share of releases")
    times.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".power-", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(scratch, dpi=110, metadata={"Software": None})
        os.replace(scratch, path)
    finally:
        plt.close(fig)
        Path(scratch).unlink(missing_ok=True)
