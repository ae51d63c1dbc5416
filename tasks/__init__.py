"""Celery: one app, five queues, and thin idempotent tasks over ``app`` services.

Nothing the worker's parent process imports may import TensorFlow (forking after TensorFlow ran
hangs the child): training code imports it inside the task.
"""
