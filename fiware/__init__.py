"""FIWARE integration: naming rules now; Orion, STH-Comet and IoT Agent clients later.

Never imports Mongo, Redis or Celery: everything here is plain HTTP and pure functions.
"""
