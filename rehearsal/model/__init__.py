"""The model engine: Flagger's loop played tick by tick against real order-api,
Traefik and Prometheus processes on loopback (the fast approximation)."""
