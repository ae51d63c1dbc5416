"""Execute a subscription event once for every subscriber that asked the same thing.

A job's progress event reaches every subscriber of that job as one object. graphql-core would
execute each subscriber's selection on it again, and Strawberry's transport would serialise each
result again: at 1,000 subscribers that was two thirds of the API's CPU (bench/subscriptions.py).
Payloads of a type registered with :func:`shareable` depend on nothing but themselves (no
context, no arguments below the root field), so one result, and one JSON text of its data, serves
every subscription with the same operation document and variables.

The executor also gives each event its own sub-field cache: graphql-core 3.3.2 shares one across
every event of a subscription, keyed by the identity of lists built afresh for each event, so it
never hits and keeps about 4 KB per event until the subscription ends. Strawberry pins
graphql-core 3.3.x; drop that line when graphql-core no longer shares the cache.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any, Generic, TypeVar, cast

from graphql import ExecutionResult, OperationDefinitionNode
from graphql.execution.executor import Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

T = TypeVar("T")
R = TypeVar("R")

# Results kept: every subscriber of an event asks within one fan-out, so a few hundred cover
# many jobs streaming at once.
RESULTS_KEPT = 512

_shareable: set[type] = set()


def shareable(cls: type[T]) -> type[T]:
    """Mark a GraphQL type whose fields resolve from the object alone, whoever asks."""
    _shareable.add(cls)
    return cls


_ENCODER = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: object) -> str:
    # Strings are most of what the transport adds around a result: skip the encoder for them.
    if type(value) is str:
        return encode_basestring_ascii(value)
    return _ENCODER.encode(value)


@dataclass(eq=False)
class SharedResult:
    # The payload is held so its id, part of the key, cannot be reused.
    payload: object
    result: ExecutionResult
    encoded: str | None = field(default=None)

    def data_json(self) -> str:
        if self.encoded is None:
            self.encoded = compact_json(self.result.data)
        return self.encoded


class SharedResults:
    """A bounded LRU of shared results, found by their key or by their ``data`` dict."""

    def __init__(self, size: int = RESULTS_KEPT) -> None:
        self.size = size
        self._by_key: OrderedDict[Hashable, SharedResult] = OrderedDict()
        self._by_data: dict[int, SharedResult] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> SharedResult | None:
        entry = self._by_key.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._by_key.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: Hashable, entry: SharedResult) -> None:
        replaced = self._by_key.pop(key, None)
        if replaced is not None and self._by_data.get(id(replaced.result.data)) is replaced:
            del self._by_data[id(replaced.result.data)]
        self._by_key[key] = entry
        self._by_data[id(entry.result.data)] = entry
        while len(self._by_key) > self.size:
            _, old = self._by_key.popitem(last=False)
            if self._by_data.get(id(old.result.data)) is old:
                del self._by_data[id(old.result.data)]

    def json_of(self, data: object) -> str | None:
        """The JSON of a shared result's ``data``, serialised once; None for any other object."""
        entry = self._by_data.get(id(data))
        if entry is None or entry.result.data is not data:
            return None
        return entry.data_json()

    def encode_message(self, message: object) -> str | None:
        """A transport message whose payload is exactly a shared result's data, as JSON; else None.

        Both WebSocket protocols send results as ``{"id", "type", "payload": {"data"}}``; SSE
        sends the bare ``{"data"}``.
        """
        if type(message) is not dict:
            return None
        if len(message) == 1 and "data" in message:
            encoded = self.json_of(message["data"])
            return None if encoded is None else '{"data":' + encoded + "}"
        payload = message.get("payload")
        if type(payload) is not dict or len(payload) != 1 or "data" not in payload:
            return None
        encoded = self.json_of(payload["data"])
        if encoded is None:
            return None
        shared = '{"data":' + encoded + "}"
        op_id, kind = message.get("id"), message.get("type")
        if len(message) == 3 and type(op_id) is str and type(kind) is str:
            # The shape Strawberry builds, in its key order: no encoder call for the envelope.
            return (
                '{"id":' + encode_basestring_ascii(op_id) + ',"type":' + encode_basestring_ascii(kind)
                + ',"payload":' + shared + "}"
            )  # fmt: skip
        parts = [
            compact_json(key) + ":" + (shared if key == "payload" else compact_json(value))
            for key, value in message.items()
        ]
        return "{" + ",".join(parts) + "}"

    def __len__(self) -> int:
        return len(self._by_key)


RESULTS = SharedResults()


class _Replay:
    """Stands in for a per-event executor when the result is known: no copy, no execution."""

    __slots__ = ("result",)

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, *_: Any) -> ExecutionResult:
        return self.result


def _variables_key(values: dict[str, Any]) -> Hashable | None:
    try:
        key = tuple(sorted(values.items()))
        hash(key)
    except TypeError:
        return None  # lists or input objects: execute per subscriber
    return key


def _document_key(operation: OperationDefinitionNode) -> Hashable | None:
    """The operation's source text and name: clients that send the same text ask the same thing."""
    if operation.loc is None:
        return None  # parsed without locations (Strawberry keeps them): execute per subscriber
    name = operation.name.value if operation.name else None
    return (operation.loc.source.body, name)


class SharingExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, sharing the results of shareable subscription events."""

    results: SharedResults = RESULTS
    _operation_key: Hashable | None

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        key = self._share_key(payload)
        if key is not None:
            known = self.results.get(key)
            if known is not None:
                # graphql-core only calls execute_operation on what this returns.
                return cast("Executor[Any]", _Replay(known.result))
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        if key is not None:
            return cast("Executor[Any]", _Recording(executor, key, payload, self.results))
        return executor

    def _share_key(self, payload: Any) -> Hashable | None:
        if type(payload) not in _shareable:
            return None
        try:
            operation = self._operation_key
        except AttributeError:
            # Once per subscription: its operation and variables never change.
            variables = _variables_key(self.variable_values.coerced)
            document = _document_key(self.operation)
            shared = variables is not None and document is not None
            operation = self._operation_key = (document, variables) if shared else None
        return None if operation is None else (id(payload), operation)


class _Recording:
    """Executes the first subscriber's event and keeps an error-free, synchronous result."""

    __slots__ = ("executor", "key", "payload", "results")

    def __init__(
        self, executor: Executor[Any], key: Hashable, payload: object, results: SharedResults
    ) -> None:
        self.executor = executor
        self.key = key
        self.payload = payload
        self.results = results

    def execute_operation(self, *args: Any) -> Any:
        result = self.executor.execute_operation(*args)
        if isinstance(result, ExecutionResult) and not result.errors:
            self.results.put(self.key, SharedResult(self.payload, result))
        return result


class IdentityMemo(Generic[T, R]):
    """``make(source)`` computed once per source object among the last ``size`` seen.

    So every subscriber handed the same event yields the same GraphQL object, which is what
    makes its execution shareable.
    """

    def __init__(self, make: Callable[[T], R], size: int = 256) -> None:
        self._make = make
        self._size = size
        self._made: OrderedDict[int, tuple[T, R]] = OrderedDict()

    def __call__(self, source: T) -> R:
        found = self._made.get(id(source))
        if found is not None and found[0] is source:
            return found[1]
        made = self._make(source)
        self._made[id(source)] = (source, made)
        while len(self._made) > self._size:
            self._made.popitem(last=False)
        return made


__all__ = [
    "RESULTS",
    "IdentityMemo",
    "SharedResults",
    "SharingExecutor",
    "compact_json",
    "shareable",
]
