"""The monitoring deployment files: the Grafana dashboard and the Prometheus rules against a real scrape.

Every metric a panel, a dashboard variable or an alert rule names must be one a real ``GET /metrics``
of the API exports, spelled as Prometheus stores it (a counter's ``_total``, a histogram's
``_bucket``/``_sum``/``_count``), or the panel stays empty and the alert never fires. The files'
structure is checked by plain parsing; ``promtool`` (Prometheus's own checker, in Debian's
``prometheus`` package) also parses every expression and runs the rules' unit tests when installed.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the venv
from pymongo import AsyncMongoClient

from app.db import init_documents
from app.metrics import cluster
from app.models.policy import WindowScore
from app.settings import Settings
from app.timeutil import utcnow
from tests.app.metrics.test_monitoring import model_document
from tests.support import ApiServer, GraphQL, scrape

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "chronos.json"
GRAFANA_README = ROOT / "deploy" / "grafana" / "README.md"
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERT_TESTS = PROMETHEUS / "alerts.test.yml"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"

PROMETHEUS_DS, HISTORY_DS = "${DS_PROMETHEUS}", "${DS_QUANTUMLEAP}"
REQUIRED_ALERTS = {
    "ChronosModelDrifting",
    "ChronosForecastsLate",
    "ChronosForecastRunsFailing",
    "ChronosNoWorker",
    "ChronosWorkerLost",
    "ChronosTrainingJobsFailing",
}
SEVERITIES = {"critical", "warning", "info"}
SCRAPE_JOB = "chronos"
# Series Prometheus writes itself for every target: no exporter has them.
PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# Variables Grafana defines itself.
GRAFANA_BUILTINS = frozenset({"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s"})
GRAFANA_MACROS = frozenset({"__timeFilter", "__timeFrom", "__timeTo", "__timeGroup", "__timeGroupAlias"})
# What the promtool check puts for Grafana's variables, so an expression parses as Prometheus sees it.
SAMPLE_VALUES = {"__rate_interval": "5m", "__range": "1h", "__interval": "1m", "window": "86400"}

# ---------------------------------------------------------------- PromQL: the metric names in an expression

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# A whole identifier (not the tail of a number or of another name) that is not a function call.
_NAME = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool"})
_KEYWORDS |= frozenset({"and", "or", "unless", "offset", "inf", "nan", "atan2"})
# Grafana's Prometheus variable queries: label_values(<selector>, <label>) and query_result(<expr>).
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*\w+\s*\)\s*$", re.DOTALL)
_LABEL_VALUES_ONLY = re.compile(r"^\s*label_values\(\s*\w+\s*\)\s*$")
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """Every metric name an expression (or a Grafana variable query) selects."""
    if _LABEL_VALUES_ONLY.match(expr):
        return set()
    if found := _LABEL_VALUES.match(expr):
        expr = found["selector"]
    elif found := _QUERY_RESULT.match(expr):
        expr = found["expr"]
    text = _VARIABLE.sub(" ", _STRING.sub('""', expr))
    text = _RANGE.sub(" ", _MATCHERS.sub(" ", text))
    while (grouped := _GROUPING.sub(" ", text)) != text:
        text = grouped
    return {name for name in _NAME.findall(text) if name not in _KEYWORDS}


def test_metric_names_are_found_and_nothing_else() -> None:
    cases = {
        'histogram_quantile(0.99, max by (le) (rate(a_bucket{x="y{z}"}[5m]))) > 5e3': {"a_bucket"},
        "max(x) < max(max_over_time(x[1h])) and max(x) > 0": {"x"},
        'a / on (model) group_left (name, service) max by (model, name) (b{model="$model"})': {"a", "b"},
        "rate(c_total[$__rate_interval]) * 60 offset 5m": {"c_total"},
        'up{job="chronos"} == bool 0 or vector(0)': {"up"},
        'label_values(info{model="$model"}, service)': {"info"},
        "label_values(service)": set(),
        "query_result(max by (model, name) (info))": {"info"},
        "time() - max by (model) (ts)": {"ts"},
    }
    assert {expr: metric_names(expr) for expr in cases} == cases


# ---------------------------------------------------------------- the files


@functools.cache
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


@functools.cache
def rules() -> dict[str, Any]:
    data = yaml.safe_load(ALERTS.read_text())
    assert isinstance(data, dict)
    return data


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def variables() -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard()["templating"]["list"]}


def _uid(datasource: object) -> str | None:
    return datasource.get("uid") if isinstance(datasource, dict) else None


def _query_text(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "")) if isinstance(query, dict) else str(query)


def prometheus_expressions() -> list[tuple[str, str]]:
    """(where, expression) for every Prometheus query of the dashboard and every rule."""
    found: list[tuple[str, str]] = []
    for panel in panels():
        for target in panel.get("targets", []):
            if _uid(target.get("datasource") or panel.get("datasource")) == PROMETHEUS_DS:
                found.append((f"panel {panel['title']!r} {target['refId']}", str(target["expr"])))
    for name, variable in variables().items():
        if variable["type"] == "query" and _uid(variable.get("datasource")) == PROMETHEUS_DS:
            found.append((f"variable {name}", _query_text(variable)))
    for group in rules()["groups"]:
        for rule in group["rules"]:
            found.append((f"rule {rule.get('alert') or rule.get('record')}", str(rule["expr"])))
    return found


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rules()["groups"] for rule in group["rules"] if "alert" in rule]


# ---------------------------------------------------------------- the dashboard


def test_the_dashboard_is_a_current_grafana_dashboard_on_two_datasource_variables() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] == "chronos" and board["title"]
    declared = variables()
    assert (
        declared["DS_PROMETHEUS"]["type"] == "datasource"
        and declared["DS_PROMETHEUS"]["query"] == "prometheus"
    )
    history = declared["DS_QUANTUMLEAP"]
    assert history["type"] == "datasource" and history["query"] == "grafana-postgresql-datasource"
    assert "QuantumLeap" in board["description"] and "CrateDB" in board["description"]
    assert "DS_QUANTUMLEAP" in GRAFANA_README.read_text() and "DS_PROMETHEUS" in GRAFANA_README.read_text()
    model = declared["model"]
    assert metric_names(_query_text(model)) == {"chronos_model_info"}
    assert not model.get("multi") and not model.get("includeAll"), "the history panel draws one model"
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["gridPos"]["w"] > 0 and panel["gridPos"]["h"] > 0
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = _uid(target.get("datasource") or panel.get("datasource"))
            assert used in (PROMETHEUS_DS, HISTORY_DS), (panel["title"], used)


def _cells(panel: dict[str, Any]) -> set[tuple[int, int]]:
    grid = panel["gridPos"]
    return {
        (x, y)
        for x in range(grid["x"], grid["x"] + grid["w"])
        for y in range(grid["y"], grid["y"] + grid["h"])
    }


def test_no_two_panels_overlap_and_all_fit_the_grid() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in panels():
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        for cell in _cells(panel):
            assert cell not in taken, f"{panel['title']!r} overlaps {taken[cell]!r}"
            taken[cell] = panel["title"]


def test_every_variable_a_query_or_title_uses_is_defined() -> None:
    defined = set(variables()) | GRAFANA_BUILTINS | GRAFANA_MACROS
    texts = [panel["title"] for panel in panels()]
    texts += [str(t.get("expr") or t.get("rawSql") or "") for p in panels() for t in p.get("targets", [])]
    texts += [_query_text(v) for v in variables().values() if v["type"] == "query"]
    used = {name for text in texts for name in re.findall(r"\$\{?(\w+)", text)}
    assert used - defined == set()


def test_the_panels_cover_accuracy_forecasting_jobs_workers_and_the_api() -> None:
    used = {name for _, expr in prometheus_expressions() for name in metric_names(expr)}
    for metric in (
        "chronos_model_live_rmse", "chronos_model_live_u2", "chronos_model_live_coverage",
        "chronos_model_reference_rmse", "chronos_model_drifting", "chronos_forecast_runs_total",
        "chronos_forecast_slots_missed_total", "chronos_forecast_lateness_seconds_bucket",
        "chronos_training_jobs", "chronos_task_duration_seconds_bucket", "chronos_workers_alive",
        "chronos_graphql_operation_duration_seconds_bucket",
    ):  # fmt: skip
        assert metric in used, metric
    history = [
        p for p in panels() if any(_uid(t.get("datasource")) == HISTORY_DS for t in p.get("targets", []))
    ]
    assert len(history) == 1 and history[0]["title"].startswith("Forecast vs actual")
    sql = " ".join(t["rawSql"] for t in history[0]["targets"])
    assert "urn:ngsi-ld:Chronos:Forecast:" in sql and "forecastseries['points']" in sql
    shaded = {
        prop["value"]
        for override in history[0]["fieldConfig"]["overrides"]
        for prop in override["properties"]
        if prop["id"] == "custom.fillBelowTo"
    }
    assert shaded == {"lower", "newest lower"}, "each forecast's interval is shaded between its bounds"


# ---------------------------------------------------------------- the rules


def test_the_rule_file_has_every_alert_well_formed() -> None:
    groups = rules()["groups"]
    assert groups and len({g["name"] for g in groups}) == len(groups)
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names are unique"
    assert set(names) >= REQUIRED_ALERTS
    for rule in alerts():
        assert str(rule["expr"]).strip(), rule["alert"]
        assert re.fullmatch(r"(\d+[smhdwy])+", str(rule["for"])), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_example_prometheus_config_scrapes_the_api_with_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == [ALERTS.name]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == SCRAPE_JOB and job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer", "/metrics takes an admin key"
    down = next(rule for rule in alerts() if rule["alert"] == "ChronosApiDown")
    assert f'job="{SCRAPE_JOB}"' in down["expr"]


# ---------------------------------------------------------------- against a real scrape


@pytest.fixture
async def monitored_model(
    mongo: AsyncMongoClient[dict[str, Any]], test_settings: Settings
) -> AsyncIterator[None]:
    """A model with a live-accuracy evaluation in the API's own database, so its series have samples."""
    await init_documents(mongo, test_settings.mongo_database)
    windows = [
        WindowScore(window_seconds=86_400, forecasts=4, pairs=8, mae=0.1, rmse=0.2, u2=0.5, coverage=0.9)
    ]
    model = model_document(evaluated_at=utcnow(), windows=windows, reference_rmse=0.1)
    await model.insert()
    try:
        yield
    finally:
        await model.delete()


async def test_every_metric_the_dashboard_and_the_rules_use_is_exported(
    api: ApiServer, gql: GraphQL, monitored_model: None, test_settings: Settings
) -> None:
    # A GraphQL operation and a task, so the histograms the panels read have series to show.
    await gql.ok("query DeployProbe { modelTypes { value } }")
    client = redis.Redis.from_url(test_settings.redis_url)
    try:
        cluster.record_task(client, task="test.deploy.probe", outcome="succeeded", seconds=0.01)
    finally:
        client.close()
    exported = {name for name, _ in scrape(api)} | PROMETHEUS_OWN
    used: dict[str, set[str]] = {}
    for where, expr in prometheus_expressions():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(where)
    assert len(used) >= 20, sorted(used)
    missing = {name: sorted(where) for name, where in used.items() if name not in exported}
    assert missing == {}


# ---------------------------------------------------------------- promtool, when installed


def _promtool(*args: str, cwd: Path = PROMETHEUS) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    done = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_rules_and_the_config() -> None:
    _promtool("check", "rules", ALERTS.name)
    _promtool("check", "config", "--syntax-only", PROMETHEUS_CONFIG.name)


def test_the_alerts_fire_and_stay_quiet_as_their_unit_tests_say() -> None:
    _promtool("test", "rules", ALERT_TESTS.name)


def _substituted(expr: str) -> str:
    return _VARIABLE.sub(lambda m: SAMPLE_VALUES.get(m.group(0).strip("${}"), "x"), expr)


def test_every_dashboard_expression_parses_as_promql(tmp_path: Path) -> None:
    queries = [
        expr
        for where, expr in prometheus_expressions()
        if where.startswith("panel") or (where.startswith("variable") and "label_values" not in expr)
    ]
    queries = [found["expr"] if (found := _QUERY_RESULT.match(q)) else q for q in queries]
    recorded = [{"record": f"dashboard:query_{n}", "expr": _substituted(q)} for n, q in enumerate(queries)]
    (tmp_path / "dashboard.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]})
    )
    _promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
