from __future__ import annotations

import io
import json

from app.log import configure_logging
from app.outages import OutageLog


def test_an_outage_is_one_line_then_a_summary_a_period_then_its_end() -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, stream=stream)
    now = [0.0]
    outage = OutageLog("orion.publish_failed", every_seconds=30, clock=lambda: now[0])
    for second in range(100):  # a failure a second for 100 s
        now[0] = float(second)
        outage.failed(ConnectionError("refused"), job_id="j")
    now[0] = 100.0
    outage.succeeded()
    outage.succeeded()  # nothing more to say
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = [r["event"] for r in records]
    assert events == [
        "orion.publish_failed",
        "orion.publish_failed.ongoing",
        "orion.publish_failed.ongoing",
        "orion.publish_failed.ongoing",
        "orion.publish_failed.recovered",
    ]
    assert records[1]["failed_since_last"] == 30 and records[1]["last_error"] == "refused"
    assert records[-1] == {**records[-1], "failures": 100, "seconds": 100.0}
