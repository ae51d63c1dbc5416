"""Forecasts from trained jobs: on demand now; recurring forecasts published to Orion next."""
