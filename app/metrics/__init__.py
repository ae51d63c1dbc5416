"""Prometheus metrics: what the API process measures itself, and what workers leave in Redis."""
