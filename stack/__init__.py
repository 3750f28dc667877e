"""What every package of the stack shares: the typed configuration and its
validation, the names (ours and the ones Flagger generates), and the scrape
contract (the target labels every query relies on).

Imports only the service's telemetry; dashboards, synth and the rehearsal
import it, never the other way round.
"""
