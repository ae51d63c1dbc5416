"""The worker's parent must never load TensorFlow: children forked after it ran hang (TensorFlow
issues #8220 and #27074, Keras #12531)."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_worker_app_and_every_task_imports_no_tensorflow() -> None:
    check = (
        "import sys, tasks.worker, tasks.training, tasks.maintenance, tasks.forecasting, tasks.models; "
        "import app.training.fitting, app.predictions.service; "
        "app = tasks.worker.celery_app; "
        "names = {n for n in app.tasks if n.startswith('chronos.')}; "
        "assert not {'tensorflow', 'keras'} & set(sys.modules); "
        "print(sorted(names))"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        sorted(
            [
                "chronos.cleanup_training_tasks",
                "chronos.collect_data_chunk",
                "chronos.execute_forecast",
                "chronos.execute_forecast_batch",
                "chronos.monitoring_tick",
                "chronos.orchestrate_training",
                "chronos.process_collected_data",
                "chronos.retraining_tick",
                "chronos.schedule_forecasts",
                "chronos.train_model_task",
                "chronos.training_watchdog",
            ]
        )
    )


def test_every_task_is_routed_to_its_queue() -> None:
    from app.queues import ROUTES
    from app.settings import Settings
    from tasks.app import create_celery

    app = create_celery(Settings(_env_file=None))
    routes = app.conf.task_routes
    assert {name: route["queue"] for name, route in routes.items()} == {n: q.value for n, q in ROUTES.items()}
    assert {queue.name for queue in app.conf.task_queues} == {
        "orchestration", "data_collection", "model_training", "forecast_scheduling", "forecast_execution",
    }  # fmt: skip
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1 and app.conf.task_serializer == "json"
