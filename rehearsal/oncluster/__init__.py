"""The real-Flagger engine: the release synthesized, applied to the local cluster,
and Flagger's own analysis watched (the reference)."""
