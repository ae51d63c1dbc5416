"""Property-based fuzzing of the real API over HTTP: every mutation, random documents, hostile headers.

Mutations are called with an editor key bound to ``fuzz:/`` only. Seeds live in that tenant (a
DRAFT model, a COMPLETED and a FAILED job) and in ``fuzzother:/`` (a model and a job the fuzz key
must never see), restored before every example, so nothing here touches other tests' data.

Every answer must be 200 or 400, JSON, free of stack traces, with a non-INTERNAL
``extensions.code`` on each top-level error; a refused mutation must leave the database as it was.
Bugs the fuzzers found, now fixed, keep a minimal reproducer each.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient
from pymongo.database import Database

from app.models.config import ModelConfig
from app.settings import Settings
from app.training.documents import DataSummary, PredictionConfig, Progress, TrainingConfig
from schema import schema as chronos_schema
from tests.support import ApiServer, bearer, create_key

FUZZ = ("fuzz", "/")
OTHER = ("fuzzother", "/")
TENANTS = [FUZZ[0], OTHER[0]]

# Fixed ids, so strategies (built at import) can aim at the seeds the fixture stores.
SEED_MODEL = uuid.UUID("f0220000-0000-4000-8000-000000000001")
SEED_DONE_JOB = uuid.UUID("f0220000-0000-4000-8000-000000000002")
SEED_FAILED_JOB = uuid.UUID("f0220000-0000-4000-8000-000000000003")
OTHER_MODEL = uuid.UUID("f0220000-0000-4000-8000-000000000004")
OTHER_JOB = uuid.UUID("f0220000-0000-4000-8000-000000000005")
SEED_IDS = [SEED_MODEL, SEED_DONE_JOB, SEED_FAILED_JOB, OTHER_MODEL, OTHER_JOB]

MUTATION_TYPE = chronos_schema._schema.mutation_type
assert MUTATION_TYPE is not None
MUTATIONS = sorted(MUTATION_TYPE.fields)
QUERY_TYPE = chronos_schema._schema.query_type
assert QUERY_TYPE is not None
# Root fields random documents may select; the slow or external ones are not this file's business.
QUERY_FIELDS = sorted(set(QUERY_TYPE.fields) - {"health", "devices", "predict", "predictionHistory"})

FUZZ_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# What a leaked stack trace or raw exception looks like in an answer.
LEAKS = re.compile(
    r"Traceback|File \"/|site-packages|\b(KeyError|TypeError|ValueError|AttributeError|IndexError|"
    r"OverflowError|UnicodeEncodeError|UnicodeDecodeError|AssertionError|RuntimeError|ZeroDivisionError|"
    r"NameError|InvalidDocument|BSONError|WriteError|OperationFailure|ValidationError)\b|"
    # Python's own messages, when an exception's text is passed through as is.
    r"unhashable type|object has no attribute|is not subscriptable|object is not callable|NoneType"
)


# --- Values for GraphQL input types --------------------------------------------------------------


def mostly(
    common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], odds: int = 6
) -> st.SearchStrategy[Any]:
    """``common`` about ``odds`` times in ``odds + 1`` (shrinking goes towards ``common``)."""

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(rare if draw(st.integers(0, odds)) == odds else common)

    strategy: st.SearchStrategy[Any] = pick()
    return strategy


NASTY_STRINGS = [
    *["", " ", "\t", "\r\n", "\x00", "a\x00b", "\x1b[31m", "\x7f"],  # blank and control
    *["\u200b", "\u202e", "\ufeff", "\U0001f600", "Z\u0351\u0360\u0353", "日本語"],  # Unicode oddities
    *["$where", "$gt", '{"$gt": ""}', '{"$ne": null}', "{'$regex': '.*'}", "this.a == 1 || true", "a.b"],
    *["$", ".", "../../etc/passwd", "'; DROP TABLE models; --", '" OR "1"="1', "<script>alert(1)</script>"],
    *["%s%s%n", "{{7*7}}", "${jndi:ldap://x}", "\\", "null", "NaN", "Infinity", "-0", "1e309", "[]", "{}"],
    *["fuzz", "fuzzother", "smart", "FUZZ", "/", "//", "/fuzz", "/fuzz/a"],  # tenants, real and not
    *["Sensor", "temperature", "urn:ngsi-ld:Sensor:fuzz", "forecastSeries", "TimeInstant", "id"],
    *["\ud800", "x\udfffy"],  # valid JSON escapes, but not Unicode scalar values
]

LONG_TEXT = st.builds(
    lambda unit, times: (unit * times)[:5000],
    st.sampled_from(["a", "é", "\U0001f600", "$gt", "\x00", "ab ", "/a"]) | st.text(min_size=1, max_size=3),
    st.integers(100, 5000),
)
TEXT: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=40),
    LONG_TEXT,
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY_STRINGS), st.sampled_from(NASTY_STRINGS)),
)

INT32 = st.one_of(
    st.sampled_from([0, -1, 1, 2, 7, 31, 32, 100, 1000, 1001, 4096, 4097, 8760, 8761, 2**31 - 1, -(2**31)]),
    st.integers(-10, 2000),
    st.integers(-(2**31), 2**31 - 1),
)
BIG_INTS = st.sampled_from([2**31, -(2**31) - 1, 2**53, 2**63, -(2**63) - 1, 10**30])
FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 0.999999999, 1e-300, 5e-324, 2.2250738585072014e-308]),
    st.sampled_from([1e308, -1e308, 1.7976931348623157e308]),  # NaN and inf are not JSON
    st.floats(0, 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**31), 2**31 - 1),
)


def _uuid_forms(value: uuid.UUID) -> list[str]:
    """Spellings Python's UUID() reads as ``value``."""
    text = str(value)
    return [text, text.upper(), "{" + text + "}", "urn:uuid:" + text, value.hex]


def _malformed(value: uuid.UUID) -> list[str]:
    """Near misses of ``value`` that are not UUIDs."""
    text = str(value)
    return [text[:-1], text + "0", "g" + text[1:], " " + text, text + "\n", text.replace("-", "_"), text * 2]


SEED_ID_FORMS = st.sampled_from([form for seed in SEED_IDS for form in _uuid_forms(seed)])
IDS: st.SearchStrategy[Any] = st.one_of(
    SEED_ID_FORMS,
    st.uuids().map(str),
    st.uuids().flatmap(lambda u: st.sampled_from(_malformed(u))),
    st.sampled_from(["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "1"]),
    TEXT,
    st.integers(-(2**31), 2**31 - 1),  # ID accepts integers
)

OFFSETS = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
DATETIMES = st.one_of(
    st.builds(lambda d, o: d.replace(tzinfo=timezone(o)).isoformat(), st.datetimes(), OFFSETS),
    st.builds(lambda d: d.isoformat(), st.datetimes()),  # naive: the API wants an offset
    st.builds(lambda d: d.isoformat() + "Z", st.datetimes()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:59:59.999999-23:59",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:00",
        ]
    ),
)
BAD_DATETIMES = st.one_of(
    st.sampled_from(["", "not a date", "2026-02-30T00:00:00Z", "2026-13-01", "1e10", "T", "+14:00"]), TEXT
)

JSON_KEYS = st.one_of(st.sampled_from(["$gt", "$where", "a.b", "", "_id", "__proto__"]), st.text(max_size=10))
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | BIG_INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(JSON_KEYS, children, max_size=4),
    max_leaves=10,
)
# A value of the wrong type for whatever it is sent as.
WRONG = st.one_of(
    st.integers(),
    st.text(max_size=8),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
UNKNOWN_FIELDS = ["__proto__", "$where", "unknownField", "id", "status", "activeJobId", "fiware_service"]


class Mode(StrEnum):
    """How an example's arguments are made."""

    GENTLE = "gentle"  # plausible values only: reaches the writes
    ONE_BAD = "one bad"  # plausible, but for one value (or object, or list) that is hostile
    HOSTILE = "hostile"  # type-correct but hostile everywhere: reaches the services' validation
    SLOPPY = "sloppy"  # also wrong types, nulls, missing and unknown fields: GraphQL's coercion


# A fuzzing dictionary: plausible values for some argument and field names, so that gentle
# examples make it through validation (every other name gets generic values).
HINTS: dict[str, list[str]] = {
    "fiwareService": ["fuzz", "fuzz", "fuzz", "fuzzother", "smart"],
    "fiwareServicePath": ["/", "/", "/", "/fuzz"],
    "entityType": ["Sensor"],
    "entityId": ["urn:ngsi-ld:Sensor:fuzz", "Sensor1"],
    "feature": ["temperature"],
    "name": ["Boiler", "level", "unit"],
    "idempotencyKey": ["k1", "k2"],
    # Ids: mostly the seeds of the fuzz tenant, sometimes another tenant's or the wrong kind.
    "id": [str(SEED_MODEL)] * 3 + [str(OTHER_MODEL), str(SEED_DONE_JOB)],
    "modelId": [str(SEED_MODEL)] * 3 + [str(OTHER_MODEL), str(SEED_DONE_JOB)],
    "jobId": [str(SEED_DONE_JOB), str(SEED_FAILED_JOB)] * 2 + [str(OTHER_JOB), str(SEED_MODEL)],
    "trainingJobId": [str(SEED_DONE_JOB)] * 3 + [str(SEED_FAILED_JOB), str(OTHER_JOB), str(SEED_MODEL)],
}
PLAUSIBLE_TEXT = st.one_of(
    st.sampled_from(["Sensor", "temperature", "a", "Boiler 1"]),
    st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True),
)
PLAUSIBLE_TIMES = st.builds(
    lambda d, minutes: d.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
)
PLAUSIBLE_JSON = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6), st.booleans(), PLAUSIBLE_TEXT)


def scalar_values(scalar: GraphQLScalarType, mode: Mode, name: str | None) -> st.SearchStrategy[Any]:
    """Values of a scalar: see :class:`Mode`."""
    good: st.SearchStrategy[Any]
    if mode in (Mode.GENTLE, Mode.ONE_BAD):
        plausible = {
            "Int": st.integers(1, 48),
            "Float": st.floats(0.01, 0.3),
            "Boolean": st.booleans(),
            "ID": SEED_ID_FORMS,
            "DateTime": PLAUSIBLE_TIMES,
            "JSON": PLAUSIBLE_JSON,
        }.get(scalar.name, PLAUSIBLE_TEXT)  # String, and scalars added later
        return (
            st.sampled_from(HINTS[name]) if name in HINTS and scalar.name in {"String", "ID"} else plausible
        )
    match scalar.name:
        case "Int":
            good = INT32 | BIG_INTS if mode is Mode.SLOPPY else INT32
        case "Float":
            good = FLOATS
        case "Boolean":
            good = st.booleans()
        case "ID":
            good = IDS
        case "DateTime":
            good = mostly(DATETIMES, BAD_DATETIMES, odds=3) if mode is Mode.SLOPPY else DATETIMES
        case "JSON":
            good = JSON_VALUES
        case _:  # String, and scalars added later
            good = TEXT
    return mostly(good, WRONG, odds=3) if mode is Mode.SLOPPY else good


@functools.cache
def input_values(type_: GraphQLInputType, mode: Mode, name: str | None = None) -> st.SearchStrategy[Any]:
    """Values for ``type_`` (an argument or field called ``name``), walking graphql-core's types."""
    if isinstance(type_, GraphQLNonNull):
        inner = _nullable_values(type_.of_type, mode, name)
        return mostly(inner, st.none()) if mode is Mode.SLOPPY else inner
    return mostly(_nullable_values(type_, mode, name), st.none(), odds=3 if mode is Mode.SLOPPY else 8)


def _nullable_values(type_: GraphQLInputType, mode: Mode, name: str | None) -> st.SearchStrategy[Any]:
    """Non-null values of a list, enum, input object or scalar type."""
    if isinstance(type_, GraphQLList):
        item = input_values(type_.of_type, mode, name)
        lists = st.lists(item, max_size=3 if mode in (Mode.GENTLE, Mode.ONE_BAD) else 10)
        return st.one_of(lists, item, WRONG) if mode is Mode.SLOPPY else lists
    if isinstance(type_, GraphQLEnumType):
        names = st.sampled_from(sorted(type_.values))
        junk = st.one_of(names.map(str.lower), st.sampled_from(["TRANSFORMER", ""]), TEXT, WRONG)
        return mostly(names, junk, odds=3) if mode is Mode.SLOPPY else names
    if isinstance(type_, GraphQLInputObjectType):
        return _objects(type_, mode)
    assert isinstance(type_, GraphQLScalarType), type_
    return scalar_values(type_, mode, name)


def _objects(type_: GraphQLInputObjectType, mode: Mode) -> st.SearchStrategy[dict[str, Any]]:
    """Input objects: required fields, some optional ones; sloppy ones also lose or gain a field."""
    required = {
        name: input_values(field.type, mode, name)
        for name, field in type_.fields.items()
        if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
    }
    optional = {
        name: input_values(field.type, mode, name)
        for name, field in type_.fields.items()
        if name not in required
    }
    base = st.fixed_dictionaries(required, optional=optional)
    if mode is not Mode.SLOPPY:
        return base
    tampered = [
        st.tuples(base, st.sampled_from(UNKNOWN_FIELDS), JSON_VALUES).map(lambda t: {**t[0], t[1]: t[2]})
    ]
    if required:
        tampered.append(
            st.tuples(base, st.sampled_from(sorted(required))).map(
                lambda pair: {k: v for k, v in pair[0].items() if k != pair[1]}
            )
        )
    return mostly(base, st.one_of(tampered), odds=2)


# --- Mutation documents ---------------------------------------------------------------------------


def leaf_fields(type_: GraphQLObjectType) -> list[str]:
    """Names of the scalar and enum fields of ``type_`` that take no arguments."""
    return sorted(
        name for name, f in type_.fields.items() if is_leaf_type(get_named_type(f.type)) and not f.args
    )


def selection(type_: GraphQLObjectType) -> str:
    """Scalar fields of the payload, and the scalar fields of each object it holds (``errors`` too)."""
    parts = []
    for name, field in sorted(type_.fields.items()):
        named = get_named_type(field.type)
        if field.args:
            continue
        if is_leaf_type(named):
            parts.append(name)
        elif isinstance(named, GraphQLObjectType) and leaf_fields(named):
            parts.append(f"{name} {{ {' '.join(leaf_fields(named))} }}")
    return "{ " + " ".join(parts) + " }"


@dataclass(frozen=True)
class Call:
    """One mutation request: the document and its variables."""

    field: str
    document: str
    variables: dict[str, Any]
    mode: Mode

    def body(self) -> bytes:
        # ASCII-escaped, so lone surrogates travel as the JSON escapes they are.
        return json.dumps({"query": self.document, "variables": self.variables}).encode()


Spot = tuple[tuple[str | int, ...], GraphQLInputType, str]


def _spots(value: Any, type_: GraphQLInputType, path: tuple[str | int, ...], name: str) -> Iterator[Spot]:
    """Every place in ``value`` (an argument of ``type_``): its path, its type and its field's name."""
    nullable = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(nullable, GraphQLList) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _spots(item, nullable.of_type, (*path, index), name)
    elif isinstance(nullable, GraphQLInputObjectType) and isinstance(value, dict):
        for key, item in value.items():
            if key in nullable.fields:
                yield from _spots(item, nullable.fields[key].type, (*path, key), key)
    yield path, type_, name


def _replace(variables: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Put ``value`` at ``path`` in ``variables``."""
    *parents, last = path
    target: Any = variables
    for step in parents:
        target = target[step]
    target[last] = value


@st.composite
def calls(draw: st.DrawFn, name: str) -> Call:
    """A call of mutation ``name`` with random arguments, sent as variables."""
    assert MUTATION_TYPE is not None
    field = MUTATION_TYPE.fields[name]
    mode = draw(st.sampled_from(Mode))
    sloppy = mode is Mode.SLOPPY
    declared: list[str] = []
    variables: dict[str, Any] = {}
    for arg_name, arg in sorted(field.args.items()):
        required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
        if not required and draw(st.booleans()):
            continue  # an optional argument left out
        if required and sloppy and draw(st.integers(0, 7)) == 7:
            continue  # a required argument left out
        declared.append(arg_name)
        if sloppy and draw(st.integers(0, 7)) == 7:
            continue  # declared, but no value sent
        variables[arg_name] = draw(input_values(arg.type, mode, arg_name))
    if mode is Mode.ONE_BAD and variables:
        spots = [spot for a in variables for spot in _spots(variables[a], field.args[a].type, (a,), a)]
        path, type_, spot_name = draw(st.sampled_from(spots))
        _replace(variables, path, draw(input_values(type_, Mode.HOSTILE, spot_name)))
    if sloppy and draw(st.integers(0, 5)) == 5:
        variables[draw(st.sampled_from(UNKNOWN_FIELDS))] = draw(JSON_VALUES)
    payload = get_named_type(field.type)
    assert isinstance(payload, GraphQLObjectType) and "errors" in payload.fields, name
    header = ", ".join(f"${a}: {field.args[a].type}" for a in declared)
    arguments = ", ".join(f"{a}: ${a}" for a in declared)
    document = (
        f"mutation Fuzz{f'({header})' if header else ''} "
        f"{{ {name}{f'({arguments})' if arguments else ''} {selection(payload)} }}"
    )
    return Call(name, document, variables, mode)


# --- Documents sent by name ----------------------------------------------------------------------

CREATE = (
    "mutation($input: CreateModelInput!) "
    "{ createModel(input: $input) { model { id } errors { code message } } }"
)
UPDATE = (
    "mutation($id: ID!, $input: UpdateModelInput!) "
    "{ updateModel(id: $id, input: $input) { model { id } errors { code message } } }"
)
SENSOR = {"entityType": "Sensor", "entityId": "urn:ngsi-ld:Sensor:fuzz", "feature": "temperature"}
TOGGLE = (
    "mutation($id: ID!, $input: PredictionToggleInput) { togglePrediction(trainingJobId: $id, "
    "enabled: true, input: $input) { prediction { enabled } errors { code message } } }"
)
START = (
    "mutation($id: ID!, $input: StartTrainingInput) "
    "{ startTraining(modelId: $id, input: $input) { trainingJob { id } errors { code message } } }"
)


# --- The world the fuzzer works in ----------------------------------------------------------------


@dataclass
class World:
    """The server, sync clients for it and its database, the fuzz key and the seeds."""

    api: ApiServer
    http: httpx.Client
    db: Database[dict[str, Any]]
    editor: dict[str, str]
    seeds: dict[str, list[dict[str, Any]]]

    def reset(self) -> None:
        """Seeds as first stored, and nothing else in the fuzz tenants."""
        for collection, field in (("models", "fiware_service"), ("training_jobs", "config.fiware_service")):
            self.db[collection].delete_many({field: {"$in": TENANTS}, "_id": {"$nin": SEED_IDS}})
            for document in self.seeds[collection]:
                self.db[collection].replace_one({"_id": document["_id"]}, document, upsert=True)

    def snapshot(self) -> Snapshot:
        """Document counts of every tenant, and the documents of the fuzz tenants."""
        counts = {name: self.db[name].count_documents({}) for name in ("models", "training_jobs")}
        models = list(self.db.models.find({"fiware_service": {"$in": TENANTS}}).sort("_id"))
        jobs = list(self.db.training_jobs.find({"config.fiware_service": {"$in": TENANTS}}).sort("_id"))
        for job in jobs:
            # Beat may update a schedule at any time (a successful enable earlier on); not ours.
            job.pop("prediction_config", None)
        return Snapshot(counts, models, jobs)

    def post(self, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST a raw JSON body to /graphql."""
        return self.http.post(
            self.api.graphql_url, content=body, headers={"content-type": "application/json", **headers}
        )


@dataclass(frozen=True)
class Snapshot:
    """What the database held at one moment (see :meth:`World.snapshot`)."""

    counts: dict[str, int]
    models: list[dict[str, Any]]
    jobs: list[dict[str, Any]]

    def other_tenant(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The models and jobs of ``fuzzother:/``, which the fuzz key must never touch."""
        return (
            [m for m in self.models if m["fiware_service"] == OTHER[0]],
            [j for j in self.jobs if j["config"]["fiware_service"] == OTHER[0]],
        )


def _job(model: Mapping[str, Any], job_id: uuid.UUID, status: str) -> dict[str, Any]:
    """A finished job of ``model`` as the workers would have stored it (no artifacts needed here)."""
    now = datetime.now(UTC).replace(microsecond=0)
    declared = {name: model[name] for name in ModelConfig.model_fields}
    config = TrainingConfig.model_validate(
        {**declared, "early_stopping_patience": 5, "lookback_window": model["lookback_window"] or 48}
    )
    summary = DataSummary(
        raw_points=1000,
        dropped_non_finite=0,
        merged_duplicates=0,
        slots=1000,
        filled=0,
        gaps=0,
        missing=0,
        sampling_interval_seconds=60.0,
        series_start=now - timedelta(hours=17),
        series_end=now,
    )
    done = status == "COMPLETED"
    return {
        "_id": job_id,
        "model_id": model["_id"],
        "status": status,
        "request": {"last_n": 1000, "date_from": None, "date_to": None},
        "config": config.model_dump(mode="json"),
        "idempotency_key": None,
        "request_fingerprint": "fuzz",
        "points_available": 1000,
        "points_requested": 1000,
        "points_collected": 1000,
        "progress": Progress(fraction=1.0).model_dump(),
        "progress_seq": 5,
        "summary": summary.model_dump() if done else None,
        "error": None if done else {"code": "INTERNAL", "message": "seeded by the fuzz tests"},
        "prediction_config": PredictionConfig().model_dump(),
        "created_at": now,
        "updated_at": now,
        "started_at": now,
        "finished_at": now,
    }


@pytest.fixture(scope="module")
def world(
    api: ApiServer, service_env: dict[str, str], log_dir: Path, test_settings: Settings
) -> Iterator[World]:
    """An editor key of ``fuzz:/``, the seeds, and sync clients (no event loop anywhere)."""
    key = create_key(service_env, role="editor", tenants=["fuzz:/"], name="fuzz tests", cwd=log_dir)
    mongo: MongoClient[dict[str, Any]] = MongoClient(
        test_settings.mongo_url, uuidRepresentation="standard", tz_aware=True
    )
    db = mongo[test_settings.mongo_database]
    try:
        with httpx.Client(timeout=30) as http:
            created = http.post(
                api.graphql_url, headers=bearer(key), json={"query": CREATE, "variables": {"input": SENSOR}}
            ).json()["data"]["createModel"]
            assert created["errors"] == [], created
            # A model as the API stores it, moved to an id the strategies know.
            raw = db.models.find_one_and_delete({"_id": uuid.UUID(created["model"]["id"])})
            assert raw is not None
            model = {**raw, "_id": SEED_MODEL}
            other = {
                **copy.deepcopy(raw),
                "_id": OTHER_MODEL,
                "fiware_service": OTHER[0],
                "name": "not yours",
            }
            seeds = {
                "models": [model, other],
                "training_jobs": [
                    _job(model, SEED_DONE_JOB, "COMPLETED"),
                    _job(model, SEED_FAILED_JOB, "FAILED"),
                    _job(other, OTHER_JOB, "COMPLETED"),
                ],
            }
            built = World(api, http, db, bearer(key), seeds)
            built.reset()
            # The app must read the seeds as it reads its own documents.
            for job in seeds["training_jobs"]:
                read = http.post(
                    api.graphql_url,
                    headers=api.headers,
                    json={
                        "query": "query($id: ID!) { trainingJob(id: $id) { status model { id } } }",
                        "variables": {"id": str(job["_id"])},
                    },
                ).json()
                assert read["data"]["trainingJob"]["status"] == job["status"], read
                assert read["data"]["trainingJob"]["model"]["id"] == str(job["model_id"]), read
            yield built
    finally:
        db.models.delete_many({"fiware_service": {"$in": TENANTS}})
        db.training_jobs.delete_many({"config.fiware_service": {"$in": TENANTS}})
        mongo.close()


# --- Properties -----------------------------------------------------------------------------------


def error_texts(body: Any) -> Iterator[str]:
    """Every string inside the answer's errors: top-level ones and those of mutation payloads."""

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)

    if not isinstance(body, dict):
        return
    yield from strings(body.get("errors"))
    for payload in (body.get("data") or {}).values():
        if isinstance(payload, dict):
            yield from strings(payload.get("errors"))


def check_answer(response: httpx.Response, *, require_json: bool = True) -> Any:
    """Status 200/400, JSON (when required), no stack trace, every top-level error with a message and
    a code that is not INTERNAL."""
    assert response.status_code in (200, 400), (response.status_code, response.text[:2000])
    assert not LEAKS.search(response.text), response.text[:2000]
    try:
        body = response.json()
    except ValueError:
        assert not require_json, f"not JSON: {response.text[:500]!r}"
        return None
    for text in error_texts(body):
        assert not LEAKS.search(text), text[:2000]
    if isinstance(body, dict):
        for error in body.get("errors") or []:
            assert error.get("message"), error
            code = (error.get("extensions") or {}).get("code")
            assert code, error
            assert code != "INTERNAL", error
    return body


def outcome(body: Any, name: str) -> str:
    """What happened, in a word or two, for Hypothesis' statistics."""
    if not isinstance(body, dict):
        return "not an object"
    if body.get("errors"):
        return "top-level " + ",".join(
            sorted({str((e.get("extensions") or {}).get("code")) for e in body["errors"]})
        )
    payload = (body.get("data") or {}).get(name) or {}
    codes = sorted({e["code"] for e in payload.get("errors") or []})
    return "payload " + ",".join(codes) if codes else "ok"


def refused(body: Any, name: str) -> bool:
    """Whether mutation ``name`` was refused: top-level errors, or errors in its payload."""
    if not isinstance(body, dict) or body.get("errors"):
        return True
    payload = (body.get("data") or {}).get(name)
    return not isinstance(payload, dict) or bool(payload.get("errors"))


@pytest.mark.parametrize("name", MUTATIONS)
@FUZZ_SETTINGS
@given(data=st.data())
def test_mutations_survive_hostile_arguments(world: World, name: str, data: st.DataObject) -> None:
    """Each mutation, with random arguments from its own input types: no 5xx, no leak, no stray write."""
    call = data.draw(calls(name), label="call")
    world.reset()
    before = world.snapshot()
    response = world.post(call.body(), world.editor)
    body = check_answer(response)
    event(f"{call.mode}: {outcome(body, name)}")
    after = world.snapshot()
    assert after.other_tenant() == before.other_tenant(), "the fuzz key changed another tenant's data"
    if refused(body, name):
        assert after.counts == before.counts, (body, before.counts, after.counts)
        assert (after.models, after.jobs) == (before.models, before.jobs), body
        payload = (body.get("data") or {}).get(name) if isinstance(body, dict) else None
        for error in (payload or {}).get("errors") or []:
            assert error["message"] and error["code"] != "INTERNAL", error
        return
    model = body["data"][name].get("model")
    if model is not None:
        assert (model["fiwareService"], model["fiwareServicePath"]) == FUZZ, model


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (CREATE, {"input": {**SENSOR, "modelType": "GRU"}}),
        (CREATE, {"input": {**SENSOR, "modelType": "LSTM"}}),
        (UPDATE, {"id": str(SEED_MODEL), "input": {"modelType": "GRU"}}),
    ],
    ids=["create-gru", "create-lstm", "update"],
)
def test_model_type_without_a_name_is_not_internal(
    world: World, document: str, variables: dict[str, Any]
) -> None:
    """Found by the mutation fuzzer: ``createModel(input: {entityType, entityId, feature, modelType})``."""
    world.reset()
    body = check_answer(
        world.post(json.dumps({"query": document, "variables": variables}).encode(), world.editor)
    )
    payload = next(iter(body["data"].values()))
    assert payload["errors"] == [] and payload["model"] is not None, body


def refused_cleanly(world: World, document: str, variables: dict[str, Any]) -> None:
    """Sends one mutation from a fresh reset: it must be refused (in its payload or at the top level),
    not with INTERNAL, and write nothing."""
    world.reset()
    before = world.snapshot()
    body = check_answer(
        world.post(json.dumps({"query": document, "variables": variables}).encode(), world.editor)
    )
    after = world.snapshot()
    assert (after.counts, after.models, after.jobs) == (before.counts, before.models, before.jobs)
    if body.get("errors"):
        assert body.get("data") is None and body["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR", (
            body
        )
        return
    payload = next(iter(body["data"].values()))
    assert payload["errors"] and all(e["code"] != "INTERNAL" for e in payload["errors"]), body


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (CREATE, {"input": {**SENSOR, "name": "\ud800"}}),
        (CREATE, {"input": {**SENSOR, "description": "x\udfffy"}}),
        (TOGGLE, {"id": str(SEED_DONE_JOB), "input": {"attributes": [{"name": "level", "value": "\ud800"}]}}),
    ],
    ids=["model-name", "model-description", "attribute-value"],
)
def test_lone_surrogates_are_refused_not_internal(
    world: World, document: str, variables: dict[str, Any]
) -> None:
    """Found by the mutation fuzzer (its string pool holds lone surrogates)."""
    refused_cleanly(world, document, variables)


@pytest.mark.parametrize("value", [2**64, {"a": [2**70]}, -(2**63) - 1], ids=["top", "nested", "negative"])
def test_huge_json_integers_are_refused_not_internal(world: World, value: object) -> None:
    """Found by the mutation fuzzer: ``togglePrediction(enabled: true, input: {attributes: [{name: "level",
    value: 18446744073709551616}]})`` on a COMPLETED job."""
    refused_cleanly(
        world,
        TOGGLE,
        {"id": str(SEED_DONE_JOB), "input": {"attributes": [{"name": "level", "value": value}]}},
    )


@pytest.mark.parametrize(
    "window",
    [
        {"dateFrom": "0001-01-01T00:00:00+14:00", "dateTo": "0001-01-02T00:00:00+00:00"},
        {"dateFrom": "9999-12-31T00:00:00+00:00", "dateTo": "9999-12-31T23:59:59-14:00"},
    ],
    ids=["year-1", "year-9999"],
)
def test_extreme_training_windows_are_refused_not_internal(world: World, window: dict[str, str]) -> None:
    """Found by the mutation fuzzer's extreme DateTime values, with the seeded DRAFT model."""
    refused_cleanly(world, START, {"id": str(SEED_MODEL), "input": window})


# --- Random documents and bodies ------------------------------------------------------------------

PUNCTUATION = ["{", "}", "(", ")", ":", "$", "...", "@", '"', "[", "]", "=", "!", ",", "|", "#", '"""']
KEYWORDS = ["fragment", "query", "mutation", "subscription", "on", "true", "false", "null"]
FIELD_WORDS = [
    *["models", "trainingJob", "trainingJobs", "model", "modelTypes", "info", "__schema", "__type"],
    *["__typename", "types", "name", "fields", "id", "edges", "node", "totalCount", "first", "after"],
    *["filter", "status", "Query", "Model", "include", "skip", "if"],
]
LITERALS = ["1", "-1", "0.5", "1e999", "99999999999999999999", '"x"', '"\\u0000"']
DOCUMENT_TOKENS = PUNCTUATION + KEYWORDS + FIELD_WORDS + LITERALS
NAMES = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,12}", fullmatch=True)
TOKEN_SOUP = st.lists(
    st.one_of(
        st.sampled_from(DOCUMENT_TOKENS), NAMES, NAMES.map(lambda n: n + ":"), NAMES.map(lambda n: "$" + n)
    ),
    max_size=60,
).flatmap(lambda tokens: st.sampled_from([" ", "", "\n"]).map(lambda sep: sep.join(tokens)))


@st.composite
def shaped_documents(draw: st.DrawFn) -> str:
    """Roughly well-formed documents: nested selections of real and made-up fields, aliases,
    fragments, directives and variables."""

    def selections(level: int) -> str:
        items = []
        for _ in range(draw(st.integers(0 if level else 1, 4))):
            name = draw(st.one_of(st.sampled_from(QUERY_FIELDS + FIELD_WORDS), NAMES))
            alias = draw(st.one_of(st.just(""), NAMES.map(lambda n: n + ": ")))
            args = draw(
                st.sampled_from(["", "(first: 1)", '(id: "x")', "(id: $v)", "(first: -1)", "(bogus: 1)"])
            )
            directive = draw(st.sampled_from(["", "@include(if: true)", "@skip(if: $v)", "@nope"]))
            inner = selections(level + 1) if level < 4 and draw(st.booleans()) else ""
            items.append(f"{alias}{name}{args}{directive}{inner}")
        if draw(st.booleans()):
            items.append(
                draw(st.sampled_from(["...F", "... on Query { __typename }", "... on Model { id }"]))
            )
        return "{ " + " ".join(items) + " }" if items else "{}"

    keyword = draw(
        st.sampled_from(["", "query", "query Q", "mutation", "subscription", "query($v: Boolean)"])
    )
    fragment = draw(
        st.sampled_from(["", "fragment F on Query { __typename }", "fragment F on Model { ...F }"])
    )
    return f"{keyword} {selections(0)} {fragment}".strip()


DOCUMENTS = st.one_of(TOKEN_SOUP, shaped_documents(), st.text(max_size=300), LONG_TEXT)


@FUZZ_SETTINGS
@given(document=DOCUMENTS)
def test_random_documents_are_answered_cleanly(world: World, document: str) -> None:
    """Any text as the query, with the admin key: 200/400, no leak, coded errors with messages, no write."""
    before = world.snapshot()
    response = world.post(json.dumps({"query": document}).encode(), world.api.headers)
    check_answer(response, require_json=False)
    assert world.snapshot().counts == before.counts


@pytest.mark.parametrize(
    ("document", "refused"),
    [
        ("{ ...A }", True),
        ("{ models { edges { node { ...B } } } }", True),
        # graphql-core takes an empty selection: answered, with nothing in it.
        ("{}", False),
        ("{ models {} }", False),
    ],
)
def test_documents_the_depth_limiter_choked_on_are_answered_cleanly(
    world: World, document: str, refused: bool
) -> None:
    """Found by the document fuzzer (Strawberry's depth rule raised on them); minimal reproducers:
    the queries ``{...A}`` and ``{A{}}``."""
    body = check_answer(world.post(json.dumps({"query": document}).encode(), world.api.headers))
    if refused:
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
    else:
        assert "errors" not in body and body["data"] is not None, body


NOT_OBJECTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(JSON_VALUES),
)
NOT_REQUESTS = st.one_of(
    NOT_OBJECTS.filter(lambda v: not isinstance(v, list)),  # a bare JSON scalar
    st.lists(JSON_VALUES, max_size=4),  # a batch, which this server does not take
    st.dictionaries(
        st.one_of(JSON_KEYS, st.sampled_from(["variables", "operationName", "extensions"])).filter(
            lambda key: key != "query"
        ),
        JSON_VALUES,
    ),
    st.fixed_dictionaries(
        {"query": st.one_of(NOT_OBJECTS, st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=3))},
        optional={"variables": JSON_VALUES, "operationName": st.one_of(st.none(), TEXT, st.integers())},
    ),
    st.fixed_dictionaries(
        {"query": st.just("{ __typename }"), "variables": NOT_OBJECTS.filter(lambda v: v is not None)}
    ),
    st.fixed_dictionaries(
        {"query": st.just("{ __typename }"), "extensions": NOT_OBJECTS.filter(lambda v: v is not None)}
    ),
    st.fixed_dictionaries(
        {"query": st.just("{ __typename }"), "operationName": st.integers() | st.booleans() | TEXT}
    ),
    st.sampled_from([{"query": 5}, {"query": None}, {"query": ""}, {"query": {"$gt": ""}}, [], {}]),
)


@FUZZ_SETTINGS
@given(body=NOT_REQUESTS)
def test_bodies_that_are_not_graphql_requests(world: World, body: Any) -> None:
    """JSON that is not a GraphQL request: 400, or 200 with errors; never 5xx, no write."""
    before = world.snapshot()
    response = world.post(json.dumps(body).encode(), world.api.headers)
    answer = check_answer(response, require_json=False)
    if response.status_code == 200:
        assert isinstance(answer, dict) and answer.get("errors"), response.text[:500]
    assert world.snapshot().counts == before.counts


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# A mutation, so that a body read past its bad bytes would show as a write.
CREATE_E = 'mutation { createModel(input: {entityType: "T", entityId: "é", feature: "f"}) { model { id } } }'
BROKEN_REQUEST = json.dumps({"query": CREATE_E}, ensure_ascii=False)
# 0x80-0xBF alone is a continuation byte with nothing to continue: never UTF-8, so no filtering.
NOT_UTF8 = st.binary(max_size=7).map(lambda tail: b"\x80" + tail)
BROKEN_BODIES = st.one_of(
    st.binary(min_size=1, max_size=4096),  # random bytes
    # a request with bytes that are not UTF-8 spliced in (inside a string, a key, anywhere)
    st.tuples(st.integers(0, len(BROKEN_REQUEST)), NOT_UTF8).map(
        lambda cut: BROKEN_REQUEST.encode()[: cut[0]] + cut[1] + BROKEN_REQUEST.encode()[cut[0] :]
    ),
    # the request in another encoding, with or without a byte-order mark
    st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"]).map(
        BROKEN_REQUEST.encode
    ),
    # UTF-8 with what strict decoders refuse: encoded surrogates, overlong forms, a truncated sequence
    st.sampled_from([b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82", b"\xf4\x90\x80\x80"]).map(
        lambda bad: BROKEN_REQUEST.encode().replace("é".encode(), bad)
    ),
)


@FUZZ_SETTINGS
@given(body=BROKEN_BODIES)
def test_bodies_of_random_bytes_or_broken_encodings(world: World, body: bytes) -> None:
    """Bytes that are not a UTF-8 request: 400 in JSON, never a 500, nothing written."""
    before = world.snapshot()
    response = world.post(body, world.editor)
    answer = check_answer(response, require_json=True)
    if not _is_utf8(body):
        assert response.status_code == 400, response.text[:500]
        assert answer["errors"][0]["extensions"]["code"] == "BAD_REQUEST", answer
    event(f"{response.status_code} {'utf-8' if _is_utf8(body) else 'not utf-8'}")
    assert world.snapshot().counts == before.counts


@pytest.mark.parametrize("body", [b"null", b"5", b'"x"', b"true"])
def test_a_json_scalar_body_is_a_400(api: ApiServer, body: bytes) -> None:
    """Found by the body fuzzer; minimal reproducer: ``curl -d null`` with a valid key."""
    headers = {"content-type": "application/json", **api.headers}
    # A connection of its own: the server drops the connection after the 500.
    response = httpx.post(api.graphql_url, content=body, headers=headers, timeout=10)
    assert response.status_code == 400, (response.status_code, response.text)


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ __typename }", "operationName": ["Q"]},
        {"query": "{ __typename }", "operationName": {"a": 1}},
        {"operationName": [None]},
    ],
)
def test_a_non_string_operation_name_is_refused_cleanly(world: World, body: dict[str, Any]) -> None:
    """Found by the body fuzzer; minimal reproducer: ``{"operationName": [null]}``."""
    check_answer(world.post(json.dumps(body).encode(), world.api.headers), require_json=False)


def test_an_operation_name_with_a_lone_surrogate_is_refused_cleanly(world: World) -> None:
    """Found by the body fuzzer (a 500: the unknown name echoed in the error could not be encoded);
    minimal reproducer: ``{"query": "{ __typename }", "operationName": "\\ud800"}``."""
    body = json.dumps({"query": "{ __typename }", "operationName": "\ud800"}).encode()
    response = world.post(body, world.api.headers)
    check_answer(response, require_json=False)
    assert response.status_code == 400 and "valid Unicode" in response.text


# --- Hostile Authorization headers ----------------------------------------------------------------

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
LATIN1 = st.binary(max_size=40).map(lambda b: bytes(c for c in b if c >= 0x80 or 0x21 <= c <= 0x7E))


@st.composite
def authorizations(draw: st.DrawFn, key: str) -> bytes | None:
    """An ``Authorization`` value that names no valid key (None: no header at all)."""
    junk = draw(HEADER_TEXT)
    choices: list[str | bytes | None] = [
        None,
        "",
        "Bearer",
        "Bearer ",
        "bearer",
        "Basic dXNlcjpwYXNz",
        "Token " + junk,
        "Bearer " + junk,
        "Bearer chr_" + junk,
        "Bearer " + key + junk + "x",
        "Bearer " + key[:-1],
        "Bearer " + key.upper(),
        key,
        "Basic " + key,
        "Bearer\t" + key,
        "Bearer " + "chr_" + "A" * draw(st.integers(40, 6000)),
        "Bearer " + "x" * draw(st.integers(0, 6000)),
        junk,
        b"Bearer " + draw(LATIN1),
        b"Bearer chr_\xff\xfe" + draw(LATIN1),
    ]
    value = draw(st.sampled_from(choices))
    if value is None:
        return None
    raw = value.encode("ascii") if isinstance(value, str) else value
    return raw.strip(b" \t")  # a header value cannot start or end with white space


@FUZZ_SETTINGS
@given(data=st.data())
def test_bad_credentials_get_401(world: World, data: st.DataObject) -> None:
    """Anything but a valid key: exactly 401, JSON, first error UNAUTHENTICATED; never 5xx."""
    assert world.api.key is not None
    value = data.draw(authorizations(world.api.key), label="authorization")
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    if value is not None:
        headers.append((b"authorization", value))
    response = world.http.post(world.api.graphql_url, content=b'{"query": "{ __typename }"}', headers=headers)
    assert response.status_code == 401, (value, response.status_code, response.text[:500])
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert not LEAKS.search(response.text), response.text[:500]
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", response.text[:500]
