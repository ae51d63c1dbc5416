from __future__ import annotations

import io
import json
import logging

import structlog

from app.log import configure_logging


def test_json_renders_our_records_and_the_standard_librarys() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    structlog.get_logger("chronos.test").info("ours", answer=42)
    logging.getLogger("uvicorn.error").info("theirs %s", "formatted")
    logging.getLogger("celery.worker").warning("worker says")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("pymongo.serverSelection").exception("with a traceback")

    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_event = {r["event"]: r for r in records}
    assert by_event["ours"]["answer"] == 42
    assert by_event["ours"]["logger"] == "chronos.test"
    assert by_event["theirs formatted"]["logger"] == "uvicorn.error"
    assert by_event["worker says"]["level"] == "warning"
    assert "ValueError: boom" in by_event["with a traceback"]["exception"]
    assert all("timestamp" in r and "level" in r for r in records)


def test_console_format_is_readable_text() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json=False, stream=stream)
    logging.getLogger("uvicorn.access").info("GET /healthz")
    structlog.get_logger("chronos.test").info("hello", who="you")
    text = stream.getvalue()
    assert "GET /healthz" in text and "uvicorn.access" in text
    assert "hello" in text and "who=you" in text
    assert not text.lstrip().startswith("{")


def test_level_filters_records() -> None:
    stream = io.StringIO()
    configure_logging(level="WARNING", json=True, stream=stream)
    logging.getLogger("chronos.test").info("hidden")
    logging.getLogger("chronos.test").warning("shown")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["shown"]


def _events(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["event"] for line in stream.getvalue().splitlines()]


def test_outgoing_http_requests_are_quiet_unless_asked_for() -> None:
    for asked, expected in ((False, []), (True, ["HTTP Request: GET http://sth/v2 200"])):
        stream = io.StringIO()
        configure_logging(level="INFO", json=True, http_requests=asked, stream=stream)
        logging.getLogger("httpx").info("HTTP Request: GET http://sth/v2 200")
        logging.getLogger("httpcore.connection").debug("connect_tcp.started")
        assert _events(stream) == expected
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    logging.getLogger("httpx").warning("a problem is still shown")
    assert _events(stream) == ["a problem is still shown"]


def test_celery_ticks_and_task_messages_show_at_debug_only() -> None:
    chatter = {
        "celery.beat": "Scheduler: Sending due task forecast-scheduler",
        "celery.worker.strategy": "Task chronos.schedule_forecasts[1] received",
        "celery.app.trace": "Task chronos.schedule_forecasts[1] succeeded in 0.01s: None",
    }
    for level, shown in (("INFO", []), ("DEBUG", list(chatter.values()))):
        stream = io.StringIO()
        configure_logging(level=level, json=True, stream=stream)
        for name, message in chatter.items():
            logging.getLogger(name).info(message)
        assert _events(stream) == shown
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    logging.getLogger("celery.app.trace").error("Task chronos.train_model_task[2] raised unexpected")
    assert _events(stream) == ["Task chronos.train_model_task[2] raised unexpected"]
