"""Forecasts in GraphQL."""
