"""The console in Debian's Chromium, offline, against the real stack: a model made, trained and
forecast from the page while its loss curve grows; a viewer key that sees no mutation control; an
API restart survived mid-training; the first load's size and time and the main thread's load under
a fast live stream, measured and printed. Screenshots go to the session's log folder."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from app import console
from app.devstack import stop_process
from app.graphiql import CONSOLE_DIR
from fiware.sandbox.runner import Sandbox
from tests.browser import OfflinePage, offline_page
from tests.support import ApiServer, WorkerProcess, create_key, run_api, wait_until
from tests.tasks.pipeline import seed_series

pytestmark = pytest.mark.services

CREATE = (
    "mutation($input: CreateModelInput!) { createModel(input: $input) { model { id } errors { message } } }"
)
START = "mutation($id: ID!) { startTraining(modelId: $id) { trainingJob { id } errors { message } } }"
STOP = "mutation($id: ID!) { togglePrediction(trainingJobId: $id, enabled: false) { errors { code } } }"
# The first load's budget and the live page's, as the issue sets them.
FIRST_LOAD_BYTES = 300 * 1024
INTERACTIVE_MS = 1000
BUSY_SHARE = 0.5
# A training long enough to watch its curve grow; and the most epochs a model may ask for, whose
# last fifth streams in while the page's main thread is measured.
SHORT = 120
EPOCHS = 1000
STREAM_FROM = 800


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    problem = console.built(CONSOLE_DIR / "dist").problem
    if problem:
        pytest.fail(f"{problem}: run `{console.BUILD_COMMAND}` (make test does)")


@pytest.fixture
def browser(request: pytest.FixtureRequest, log_dir: Path) -> Iterator[OfflinePage]:
    with offline_page() as offline:
        try:
            yield offline
        finally:
            # The page as the test left it, passed or failed: a test artifact, never committed.
            offline.page.screenshot(path=str(log_dir / f"console-{request.node.name}.png"), full_page=True)
        # Whatever the test did, nothing may have tried to leave the machine.
        assert offline.attempted == []


def call(api: ApiServer, document: str, variables: dict[str, Any]) -> Any:
    # Plain HTTP: Playwright's sync API runs where no event loop does.
    answer = httpx.post(api.graphql_url, json={"query": document, "variables": variables},
                        headers=api.headers, timeout=30).json()  # fmt: skip
    assert "errors" not in answer, answer
    return answer["data"]


def sensor(sandbox: Sandbox, *, points: int = 300) -> str:
    """A sensor the IoT Agent lists, with ``points`` readings a minute apart in both history stores."""
    entity = seed_series(sandbox, points=points)
    device: dict[str, object] = {
        "device_id": f"console-{uuid.uuid4().hex[:8]}", "entity_type": "Sensor", "entity_name": entity,
        "attributes": [{"object_id": "t", "name": "temperature", "type": "Number"}],
    }  # fmt: skip
    sandbox.iota.add_device(service="smart", service_path="/", device=device)
    return entity


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(url)
    page.get_by_test_id("key-input").fill(key)
    page.get_by_test_id("key-submit").click()
    page.get_by_test_id("viewer").wait_for()


def tiny_model(page: Page, *, epochs: int) -> None:
    """The form's fields for a network that trains in milliseconds an epoch."""
    fields = {"lookbackWindow": "8", "forecastHorizon": "2", "epochs": str(epochs),
              "earlyStoppingPatience": "0", "batchSize": "32", "rnnLayers-0-units": "4"}  # fmt: skip
    for name, value in fields.items():
        page.get_by_test_id(f"field-{name}").fill(value)


def report(capsys: pytest.CaptureFixture[str], figures: str) -> None:
    """Figures the issue asks to see printed: on the terminal, even when the test passes."""
    with capsys.disabled():
        sys.stdout.write(f"\nconsole: {figures}\n")


def chart_points(page: Page) -> int:
    return int(page.evaluate("() => window.__chronosConsole.chartPoints()"))


def task_seconds(page: Page, cdp: Any) -> float:
    """The renderer main thread's busy time so far (Chrome's TaskDuration), in seconds."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def busy_while_streaming(page: Page, *, from_epoch: int, seconds: float) -> tuple[float, float]:
    """The main thread's busy share and the events received per second over ``seconds`` of the live
    stream, once the chart holds ``from_epoch`` epochs."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.wait_for_function(f"() => window.__chronosConsole.chartPoints() >= {from_epoch}", timeout=120_000)
    events = page.evaluate("() => window.__chronosConsole.eventsReceived()")
    busy, started = task_seconds(page, cdp), time.monotonic()
    time.sleep(seconds)
    share = (task_seconds(page, cdp) - busy) / (time.monotonic() - started)
    rate = (page.evaluate("() => window.__chronosConsole.eventsReceived()") - events) / seconds
    return share, rate


def test_a_model_is_made_trained_and_forecast_from_the_console(
    api: ApiServer, worker: WorkerProcess, fiware_sandbox: Sandbox, browser: OfflinePage, log_dir: Path
) -> None:
    entity = sensor(fiware_sandbox)
    page = browser.page
    assert api.key is not None
    sign_in(page, f"{api.url}/#/devices", api.key)
    row = page.locator(f'[data-testid="entity-row"][data-entity-id="{entity}"]')
    row.get_by_test_id("new-model").click()
    tiny_model(page, epochs=SHORT)
    page.get_by_test_id("field-startTraining").check()
    page.get_by_test_id("model-submit").click()
    page.get_by_test_id("job-page").wait_for()

    # The loss curve grows epoch by epoch while the job runs.
    seen: list[int] = []
    while len(set(seen)) < 5:
        page.wait_for_function(f"() => window.__chronosConsole.chartPoints() > {max(seen, default=0)}")
        seen.append(chart_points(page))
    assert page.get_by_test_id("job-status").get_attribute("data-status") == "TRAINING"
    page.screenshot(path=str(log_dir / "console-training.png"), full_page=True)

    status = page.locator('[data-testid="job-status"][data-status="COMPLETED"]')
    status.wait_for(timeout=120_000)
    page.wait_for_function(f"() => window.__chronosConsole.chartPoints() === {SHORT}", timeout=30_000)
    # Scores and artifacts come with the job read again after its last event: waited for, not raced.
    page.get_by_test_id("metrics-network").wait_for()
    page.get_by_test_id("baseline-row").nth(1).wait_for()
    page.get_by_test_id("artifact").nth(3).wait_for()
    assert page.get_by_test_id("artifact").count() == 4
    page.screenshot(path=str(log_dir / "console-completed.png"), full_page=True)

    page.get_by_test_id("job-forecasting-toggle").click()
    page.locator('[data-testid="job-forecasting-toggle"][data-enabled="true"]').wait_for()
    job_id = page.url.rsplit("/", 1)[1]
    page.get_by_test_id("forecast-link").click()
    band = page.get_by_test_id("forecast-band")
    band.wait_for()
    assert int(band.get_attribute("data-points") or 0) == 2
    page.screenshot(path=str(log_dir / "console-forecast.png"), full_page=True)
    call(api, STOP, {"id": job_id})


def test_a_viewer_key_sees_no_mutation_control_and_a_bad_key_is_refused(
    api: ApiServer, fiware_sandbox: Sandbox, browser: OfflinePage, service_env: dict[str, str], log_dir: Path
) -> None:
    entity = sensor(fiware_sandbox, points=20)
    made = call(
        api, CREATE, {"input": {"entityType": "Sensor", "entityId": entity, "feature": "temperature"}}
    )
    model_id = made["createModel"]["model"]["id"]
    viewer = create_key(service_env, role="viewer", tenants=["smart:/"], name="console viewer", cwd=log_dir)
    page = browser.page
    page.goto(f"{api.url}/#/models/{model_id}")
    page.get_by_test_id("key-input").fill("not-a-key")
    page.get_by_test_id("key-submit").click()
    page.get_by_test_id("key-error").wait_for()
    page.get_by_test_id("key-input").fill(viewer)
    page.get_by_test_id("key-submit").click()
    page.get_by_test_id("model-page").wait_for()
    page.get_by_test_id("versions").wait_for()
    for control in ("start-training", "promote", "forecasting-toggle", "policy-form", "policy-save"):
        assert page.get_by_test_id(control).count() == 0, control
    page.goto(f"{api.url}/#/devices")
    page.locator(f'[data-testid="entity-row"][data-entity-id="{entity}"]').wait_for()
    assert page.get_by_test_id("new-model").count() == 0


@pytest.mark.timeout(360)
def test_an_api_restart_mid_training_is_survived_and_a_long_stream_costs_the_page_little(
    worker: WorkerProcess, fiware_sandbox: Sandbox, browser: OfflinePage, service_env: dict[str, str],
    log_dir: Path, admin_key: str, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    entity = sensor(fiware_sandbox, points=120)
    page = browser.page
    with run_api(service_env, log_dir, key=admin_key) as first:
        port = int(first.url.rsplit(":", 1)[1])
        spec = {"entityType": "Sensor", "entityId": entity, "feature": "temperature", "lookbackWindow": 8,
                "forecastHorizon": 2, "epochs": EPOCHS, "earlyStoppingPatience": 0, "batchSize": 32,
                "rnnLayers": [{"units": 4}]}  # fmt: skip
        model_id = call(first, CREATE, {"input": spec})["createModel"]["model"]["id"]
        job_id = call(first, START, {"id": model_id})["startTraining"]["trainingJob"]["id"]
        sign_in(page, f"{first.url}/#/jobs/{job_id}", admin_key)
        page.wait_for_function("() => window.__chronosConsole.chartPoints() >= 3", timeout=120_000)
        stop_process(first.process, timeout=10)
        page.locator('[data-testid="socket-status"][data-status="reconnecting"]').wait_for()
        drawn = chart_points(page)
    with run_api(service_env, log_dir, key=admin_key, port=port):
        page.locator('[data-testid="socket-status"][data-status="connected"]').wait_for(timeout=60_000)
        # The stream resumes; while the last epochs of a long history arrive, the page stays light.
        share, rate = busy_while_streaming(page, from_epoch=STREAM_FROM, seconds=1.5)
        report(
            capsys,
            f"{STREAM_FROM}+ of {EPOCHS} epochs drawn, {rate:.0f} events/s: main thread {share:.0%} busy",
        )
        assert share < BUSY_SHARE
        page.locator('[data-testid="job-status"][data-status="COMPLETED"]').wait_for(timeout=240_000)
        # Epochs trained while the API was away come from the stored history, not the stream.
        page.wait_for_function(f"() => window.__chronosConsole.chartPoints() === {EPOCHS}", timeout=30_000)
        assert drawn < EPOCHS
        assert wait_until(lambda: page.get_by_test_id("api-down").count() == 0, timeout=10)


def test_the_first_load_is_small_and_interactive_within_a_second(
    api: ApiServer, browser: OfflinePage, capsys: pytest.CaptureFixture[str]
) -> None:
    page = browser.page
    page.goto(f"{api.url}/")
    page.get_by_test_id("key-input").wait_for()
    ready_ms = float(page.evaluate("() => performance.now()"))
    sizes = page.evaluate(
        "() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
        ".map(e => [e.name, e.transferSize])"
    )
    total = sum(size for _, size in sizes)
    report(capsys, f"first load {total / 1024:.1f} KB in {len(sizes)} requests, key form {ready_ms:.0f} ms")
    assert all(size > 0 for _, size in sizes), sizes  # nothing came from a cache: a true first load
    assert total <= FIRST_LOAD_BYTES and ready_ms <= INTERACTIVE_MS
