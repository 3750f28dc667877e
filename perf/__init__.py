"""Performance tools for order-api (dev only, never in the image): the benchmark and the soak."""
