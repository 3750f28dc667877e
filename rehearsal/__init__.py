"""Canary rehearsal: Flagger's analysis of the Canary in dist/, run on one machine
against real order-api, Traefik and Prometheus processes (`python -m rehearsal`)."""
