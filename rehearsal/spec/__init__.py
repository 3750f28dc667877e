"""What is rehearsed: the Canary read from dist/ and the rules Flagger applies to it
(its analysis state machine, template rendering, built-in queries, webhook commands)."""
