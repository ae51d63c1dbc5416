"""Worker and beat entry point: ``python -m tasks.run worker ...`` is ``celery -A tasks.worker worker ...``.

With one difference: SIGTERM (what Docker, Kubernetes and systemd send) starts Celery's cold
shutdown rather than its warm one. Warm shutdown waits for every running task, and a training
runs for hours; cold shutdown waits ``worker_soft_shutdown_timeout`` (CHRONOS_SHUTDOWN_GRACE_SECONDS)
and then hands unfinished tasks back to the broker, whose redelivery resumes the step on another
worker (app.training.repository.lifecycle). Billiard reads the switch from the environment when it is first
imported, so it is set here, before anything imports Celery.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("REMAP_SIGTERM", "SIGQUIT")
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", "-A", "tasks.worker", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
