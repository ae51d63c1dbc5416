"""The worker's and beat's Celery app: ``celery -A tasks.worker worker`` / ``celery -A tasks.worker beat``.

Importing this loads the task modules, and nothing of TensorFlow (a test checks it).
"""

from __future__ import annotations

from app.settings import get_settings
from tasks import metrics, shutdown
from tasks.app import create_celery

_settings = get_settings()
celery_app = create_celery(_settings)
celery_app.set_default()
celery_app.loader.import_default_modules()
metrics.connect(_settings.redis_url)
shutdown.connect()

__all__ = ["celery_app"]
