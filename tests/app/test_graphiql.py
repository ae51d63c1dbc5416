"""GraphiQL served by Chronos itself: offline in a real browser, pinned assets, and the walkthrough
it opens on, which must validate against the schema and run, tab after tab, on the demo sensors."""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from graphql import OperationType, parse, validate
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app import graphiql
from fiware.sandbox.runner import Sandbox
from schema import schema as chronos_schema
from tests.browser import DEMO, offline_page, seed_demo_once
from tests.conftest import unique
from tests.support import ApiServer, GraphQL, WorkerProcess, bearer, get, run_api

TITLES = ["Devices", "CreateModel", "StartTraining", "TrainingProgress", "Predict", "TogglePrediction"]
RESPONSE = ".graphiql-response .CodeMirror"
QUERY = ".graphiql-query-editor .CodeMirror"
TOOL_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
TAB_STATE = "chronos-graphiql:graphiql:tabState"
CANCEL = "mutation($id: ID!) { cancelTraining(jobId: $id) { trainingJob { status } } }"
STOP_RECURRING = """
mutation($id: ID!) { togglePrediction(trainingJobId: $id, enabled: false) { errors { code } } }"""


def operation(document: str) -> Any:
    (definition,) = parse(document).definitions
    return definition


def declared(document: str) -> list[str]:
    return [v.variable.name.value for v in operation(document).variable_definitions or ()]


def test_walkthrough_documents_validate_and_chain_their_ids() -> None:
    assert [step.title for step in graphiql.WALKTHROUGH] == TITLES
    produced: set[str] = set()
    for step in graphiql.WALKTHROUGH:
        document = parse(step.document)
        assert validate(chronos_schema._schema, document) == [], step.title
        lines = step.document.splitlines()
        comments = [line for line in lines if line.startswith("#")]
        assert max(map(len, comments)) <= 60, f"{step.title}: a comment wider than the editor on a laptop"
        assert lines[0].startswith(f"# Chronos walkthrough {TITLES.index(step.title) + 1}/6: ")
        # Each variable the page fills was produced by an earlier tab, and the tab says so on top.
        assert set(declared(step.document)) <= produced, step.title
        for name in declared(step.document):
            assert any(line.startswith(f"# ${name}: from ") for line in lines[:3]), step.title
        for name, path in graphiql.FILLS.items():
            if path[0] in step.document:
                produced.add(name)
    assert produced == set(graphiql.FILLS)


async def run_step(api: ApiServer, gql: GraphQL, document: str, ids: dict[str, str]) -> Any:
    """One tab as the page runs it: declared variables filled with the ids remembered so far."""
    variables = {name: ids[name] for name in declared(document)}
    if operation(document).operation is not OperationType.SUBSCRIPTION:
        return await gql.ok(document, variables)
    transport = WebsocketsTransport(url=api.graphql_url.replace("http", "ws"), init_payload=api.init_payload)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        return [
            event async for event in session.subscribe(GraphQLRequest(document, variable_values=variables))
        ]


def remember_ids(result: Any, ids: dict[str, str]) -> None:
    for name, path in graphiql.FILLS.items():
        found = result
        for key in path:
            found = found.get(key) if isinstance(found, dict) else None
        if isinstance(found, str):
            ids[name] = found


async def test_the_walkthrough_runs_in_order_on_the_demo_sensors(
    api: ApiServer, worker: WorkerProcess, fiware_sandbox: Sandbox, gql: GraphQL
) -> None:
    seed_demo_once(fiware_sandbox)
    ids: dict[str, str] = {}
    results: dict[str, Any] = {}
    started = time.monotonic()
    for step in graphiql.WALKTHROUGH:
        results[step.title] = await run_step(api, gql, step.document, ids)
        remember_ids(results[step.title], ids)
    elapsed = time.monotonic() - started

    entities = {e["entityId"] for g in results["Devices"]["devices"] for e in g["entities"]}
    assert DEMO.entity_id in entities
    assert results["CreateModel"]["createModel"]["errors"] == []
    assert results["StartTraining"]["startTraining"]["trainingJob"]["modelId"] == ids["modelId"]
    final = results["TrainingProgress"][-1]["trainingProgress"]
    assert final["status"] == "COMPLETED" and final["metrics"]["rmse"] is not None, final
    # A walkthrough that ends on a model no better than "no change" teaches the wrong thing.
    assert final["metrics"]["theilU"] < 1, final["metrics"]
    points = results["Predict"]["predict"]["points"]
    assert [p["step"] for p in points] == list(range(1, 13))
    schedule = results["TogglePrediction"]["togglePrediction"]
    assert schedule["errors"] == [] and schedule["prediction"]["enabled"] is True
    assert schedule["prediction"]["entityId"].endswith(ids["trainingJobId"].replace("-", ""))
    assert elapsed < 60, f"the walkthrough took {elapsed:.1f} s; it must finish well under a minute"
    await gql.ok(STOP_RECURRING, {"id": ids["trainingJobId"]})


# --- in a browser ---------------------------------------------------------------------------------


def editor_text(page: Page, selector: str) -> str:
    text: str = page.evaluate("s => document.querySelector(s).CodeMirror.getValue()", selector)
    return text


def replace_editor_text(page: Page, selector: str, text: str, *, field: str) -> None:
    """Type ``text`` over an editor's, and wait until GraphiQL's tab state (``field``) holds it."""
    page.locator(selector).click()
    page.keyboard.press("Control+A")
    # Inserted as one input event: typing key by key would trip the editor's bracket closing.
    page.keyboard.insert_text(text)
    # GraphiQL copies an edit into its tab state 100 ms later; a tab switched before that loses it.
    page.wait_for_function(
        "([key, field, text]) => { const state = JSON.parse(localStorage.getItem(key) || 'null');"
        " return state !== null && state.tabs[state.activeTabIndex][field] === text; }",
        arg=[TAB_STATE, field, text],
    )


def run_tab(page: Page, title: str, *, until: str, timeout_ms: float = 30_000) -> Any:
    """Open a tab, press Run, wait for ``until`` in the result pane and answer the result."""
    page.locator(".graphiql-tab-button", has_text=re.compile(f"^{title}$")).click()
    # GraphiQL reads the operation's name off the editor 100 ms after it changes; Run sooner would
    # send the previous tab's name with this tab's document.
    page.wait_for_function("([s, name]) => document.querySelector(s).CodeMirror.operationName === name",
                           arg=[QUERY, title])  # fmt: skip
    return run_editor(page, until=until, timeout_ms=timeout_ms)


def run_editor(page: Page, *, until: str, timeout_ms: float = 30_000) -> Any:
    before = editor_text(page, RESPONSE)
    page.locator(".graphiql-execute-button").click()
    try:
        page.wait_for_function(
            "([s, before, t]) => { const text = document.querySelector(s).CodeMirror.getValue();"
            " return text !== before && text.includes(t); }",
            arg=[RESPONSE, before, until],
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        shown = editor_text(page, RESPONSE)
        raise AssertionError(
            f"no {until!r} in the result pane within {timeout_ms} ms; it shows:\n{shown}"
        ) from None
    return json.loads(editor_text(page, RESPONSE))


@pytest.mark.services  # a browser process of its own
def test_the_offline_browser_refuses_and_records_whatever_leaves_loopback() -> None:
    """The harness itself: a page reaching for a CDN, an IP address and a WebSocket gets none of them."""
    with offline_page() as offline:
        page = offline.page
        with page.expect_websocket():
            page.set_content(
                '<script src="https://unpkg.com/react@18.2.0/umd/react.production.min.js"></script>'
                '<img src="http://93.184.216.34/x.png">'
                '<script>window.socket = new WebSocket("wss://example.com/socket");</script>'
            )
        # The socket is not routed, only recorded: the browser's dead proxy is what refuses it.
        page.wait_for_function("() => window.socket.readyState === WebSocket.CLOSED")
        assert page.evaluate("() => typeof window.React") == "undefined"
        assert offline.attempted == [
            "https://unpkg.com/react@18.2.0/umd/react.production.min.js",
            "http://93.184.216.34/x.png",
            "wss://example.com/socket",
        ]


@pytest.fixture
def browser() -> Iterator[Any]:
    with offline_page() as offline:
        yield offline
        # Whatever the test did, nothing may have tried to leave the machine.
        assert offline.attempted == []


def call(api: ApiServer, document: str, variables: dict[str, Any]) -> Any:
    # Plain HTTP: Playwright's sync API runs where no event loop does, so no async client here.
    answer = httpx.post(api.graphql_url, json={"query": document, "variables": variables},
                        headers=api.headers, timeout=30).json()  # fmt: skip
    assert "errors" not in answer, answer
    return answer["data"]


def test_graphiql_works_offline_with_a_key_and_its_walkthrough_runs(
    api: ApiServer, worker: WorkerProcess, fiware_sandbox: Sandbox, browser: Any
) -> None:
    seed_demo_once(fiware_sandbox)
    mine = call(api,
        "mutation($input: CreateModelInput!) { createModel(input: $input) { model { id name } } }",
        {"input": {"name": unique("browser"), "entityType": DEMO.entity_type,
                   "entityId": DEMO.entity_id, "feature": DEMO.attribute}},
    )["createModel"]["model"]  # fmt: skip
    page: Page = browser.page
    page.goto(api.graphql_url)
    tabs = page.locator(".graphiql-tab-button")
    tabs.nth(5).wait_for()
    assert [t.strip() for t in tabs.all_inner_texts()] == TITLES

    # The key goes under Headers of the first tab only; the page sends it from every tab.
    page.locator('button[data-name="headers"]').click()
    replace_editor_text(page, TOOL_EDITOR, json.dumps(bearer(api.key)), field="headers")
    devices = run_tab(page, "Devices", until=DEMO.entity_id)
    assert DEMO.entity_id in {e["entityId"] for g in devices["data"]["devices"] for e in g["entities"]}

    # A query of our own, typed into a new tab's editor.
    page.locator(".graphiql-tab-add").click()
    typed = f'{{ models(filter: {{nameContains: "{mine["name"]}"}}) {{ edges {{ node {{ id name }} }} }} }}'
    replace_editor_text(page, QUERY, typed, field="query")
    assert run_editor(page, until=mine["id"])["data"]["models"]["edges"] == [{"node": mine}]

    walk_through(page, api)
    run_again_and_override(page, api)


def walk_through(page: Page, api: ApiServer) -> None:
    """Run every walkthrough tab as a newcomer would, typing no id."""
    model = run_tab(page, "CreateModel", until='"status"')["data"]["createModel"]["model"]
    job = run_tab(page, "StartTraining", until='"pointsRequested"')["data"]["startTraining"]["trainingJob"]
    assert job["modelId"] == model["id"]
    page.locator('button[data-name="variables"]').click()
    assert json.loads(editor_text(page, TOOL_EDITOR)) == {"modelId": model["id"]}, "the filled id shows"

    final = run_tab(page, "TrainingProgress", until='"status": "COMPLETED"', timeout_ms=90_000)
    assert final["data"]["trainingProgress"]["metrics"]["rmse"] is not None
    assert json.loads(editor_text(page, TOOL_EDITOR)) == {"trainingJobId": job["id"]}
    points = run_tab(page, "Predict", until='"points"')["data"]["predict"]["points"]
    assert len(points) == 12 and all(isinstance(p["value"], float) for p in points)
    schedule = run_tab(page, "TogglePrediction", until='"enabled"')["data"]["togglePrediction"]
    assert schedule["prediction"]["enabled"] is True
    call(api, STOP_RECURRING, {"id": job["id"]})


def run_again_and_override(page: Page, api: ApiServer) -> None:
    """A new CreateModel moves the next tab to the new model; an id typed under Variables stays."""
    again = run_tab(page, "CreateModel", until='"status"')["data"]["createModel"]["model"]
    job = run_tab(page, "StartTraining", until='"pointsRequested"')["data"]["startTraining"]["trainingJob"]
    assert job["modelId"] == again["id"]
    assert json.loads(editor_text(page, TOOL_EDITOR)) == {"modelId": again["id"]}
    call(api, CANCEL, {"id": job["id"]})

    typed = json.dumps({"modelId": str(uuid.uuid4())})
    replace_editor_text(page, TOOL_EDITOR, typed, field="variables")
    refused = run_editor(page, until="NOT_FOUND")["data"]["startTraining"]
    assert refused["trainingJob"] is None and [e["code"] for e in refused["errors"]] == ["NOT_FOUND"]
    assert editor_text(page, TOOL_EDITOR) == typed


# --- the assets -----------------------------------------------------------------------------------


def test_assets_are_served_pinned_typed_and_cached(api: ApiServer) -> None:
    page = get(api, "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    tags = re.findall(r'(?:src|href)="(/graphql/assets/[^"]+)" integrity="([^"]+)"', page.text)
    assert len(tags) == len(graphiql.PINNED) + 1
    assert "unpkg" not in page.text and "://" not in "".join(url for url, _ in tags)
    for url, integrity in tags:
        served = httpx.get(f"{api.url}{url}", timeout=10)
        assert served.status_code == 200, url
        kind = "text/css" if url.endswith(".css") else "text/javascript"
        assert served.headers["content-type"] == f"{kind}; charset=utf-8"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert graphiql.sri(served.content) == integrity
    assert {integrity for _, integrity in tags} >= {p.integrity for p in graphiql.PINNED}
    assert httpx.get(f"{api.url}/graphql/assets/react@18.2.0/package.json", timeout=10).status_code == 404


def test_missing_or_altered_files_give_a_page_saying_what_to_run(tmp_path: Path) -> None:
    (tmp_path / "graphiql").mkdir()
    shutil.copy(graphiql.CONSOLE_DIR / graphiql.OWN_SCRIPT, tmp_path / graphiql.OWN_SCRIPT)
    with structlog.testing.capture_logs() as logs:
        assert len(graphiql.routes(enabled=True, console_dir=tmp_path)) == 1
    assert [entry["event"] for entry in logs] == ["graphiql.assets_missing"]
    assert "npm ci --prefix console" in logs[0]["fix"]

    missing = graphiql.ide_response(tmp_path)
    text = bytes(missing.body).decode()
    assert missing.status_code == 503 and "npm ci --prefix console" in text
    assert "react@18.2.0/umd/react.production.min.js is not installed" in text

    for pinned in graphiql.PINNED:
        pinned.path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pinned.path(graphiql.CONSOLE_DIR), pinned.path(tmp_path))
    altered = graphiql.PINNED[0].path(tmp_path)
    altered.write_bytes(altered.read_bytes() + b"\n")
    assert graphiql.load_assets(tmp_path).problems == [
        f"{graphiql.PINNED[0].name} differs from the pinned file ({graphiql.PINNED[0].integrity})"
    ]
    with structlog.testing.capture_logs() as logs:
        assert graphiql.routes(enabled=False, console_dir=tmp_path) == []
    assert logs == []


def test_graphiql_off_serves_neither_page_nor_assets(
    service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    with run_api({**service_env, "CHRONOS_GRAPHIQL": "false"}, log_dir, key=admin_key) as server:
        page = get(server, "/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        asset = httpx.get(f"{server.url}/graphql/assets/{graphiql.PINNED[0].name}", timeout=10)
        assert asset.status_code == 404
