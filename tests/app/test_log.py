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
