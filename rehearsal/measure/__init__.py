"""How both engines measure: the load client that counts answers by version and
status, a plain HTTP GET, and the Prometheus HTTP API."""
