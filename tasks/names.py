"""Moved to :mod:`app.queues` (the API enqueues with them); kept while tasks/forecasting.py moves over."""

from app.queues import *  # noqa: F403
