"""What the configured Canary's gates can detect: a Monte Carlo of Flagger's decision.

`python -m rehearsal power` (or `python -m rehearsal.power`) simulates whole
releases of the Canary in dist/ under a true error rate and latency shift and
answers with the odds of promotion, of a false rollback and the time to a verdict.
"""
