"""Everything this package takes from the rest of the rehearsal, in one place.

The Canary as read from dist/ and Flagger's weight rules come from the model
engine's own modules, so the Monte Carlo follows the same reading of Flagger.
"""

from rehearsal.spec.builtin_queries import flagger_value
from rehearsal.spec.canary_spec import PRE_ROLLOUT, Canary, Metric, SpecError, load_canary
from rehearsal.spec.flagger_analysis import Analysis, max_weight, next_step_weight

__all__ = [
    "PRE_ROLLOUT",
    "Analysis",
    "Canary",
    "Metric",
    "SpecError",
    "flagger_value",
    "load_canary",
    "max_weight",
    "next_step_weight",
]
