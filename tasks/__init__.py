"""Celery application and thin, idempotent task wrappers over ``app`` services.

The training issue adds the app and its queues; until then the API runs without workers.
"""
