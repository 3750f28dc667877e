"""order-api: a small e-commerce order service instrumented for canary analysis."""

__version__ = "1.0.0"
