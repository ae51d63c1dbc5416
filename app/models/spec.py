"""Validation of a model as users give it (``app.models.config.ModelSpec``).

Validation collects every problem of one input, each with its field path starting at the
GraphQL argument name (``("input", "rnnLayers", "0", "units")``), instead of stopping at the
first one. Each check below covers a few fields; ``validate_spec`` runs them all, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pydantic.alias_generators import to_camel

from app.errors import ErrorCode, FieldError, FieldPath
from app.models.config import (
    MAX_BATCH,
    MAX_DESCRIPTION,
    MAX_EPOCHS,
    MAX_HORIZON,
    MAX_INTERVAL_LEVELS,
    MAX_LAYERS,
    MAX_LOOKBACK,
    MAX_NAME,
    MAX_UNITS,
    ModelSpec,
)
from fiware.names import check_ngsi_name, check_service, check_service_path

Problems = Iterator[FieldError]


def validate_spec(spec: ModelSpec, *, root: str = "input") -> list[FieldError]:
    return [problem for check in _CHECKS for problem in check(spec, (root,))]


def _at(root: FieldPath, *parts: str | int) -> FieldPath:
    """The GraphQL path of a field: its parts in camelCase, list indexes as strings."""
    return root + tuple(to_camel(part) if isinstance(part, str) else str(part) for part in parts)


def _problem(path: FieldPath, message: str) -> FieldError:
    return FieldError(ErrorCode.VALIDATION_ERROR, message, path)


def _int_range(path: FieldPath, value: int, low: int, high: int) -> Problems:
    if not low <= value <= high:
        yield _problem(path, f"must be between {low} and {high} (got {value})")


def _unit_interval(path: FieldPath, value: float) -> Problems:
    if not 0.0 <= value < 1.0:
        yield _problem(path, f"must be at least 0 and below 1 (got {value})")


def _text(path: FieldPath, value: str | None, limit: int) -> Problems:
    if value is None:
        return
    if not value.strip():
        yield _problem(path, "must not be blank")
    elif len(value) > limit:
        yield _problem(path, f"must be at most {limit} characters (got {len(value)})")


def _texts(spec: ModelSpec, root: FieldPath) -> Problems:
    yield from _text(_at(root, "name"), spec.name, MAX_NAME)
    yield from _text(_at(root, "description"), spec.description, MAX_DESCRIPTION)


def _rnn_layers(spec: ModelSpec, root: FieldPath) -> Problems:
    count = len(spec.rnn_layers)
    if not 1 <= count <= MAX_LAYERS:
        yield _problem(_at(root, "rnn_layers"), f"must hold 1 to {MAX_LAYERS} layers (got {count})")
    for i, rnn in enumerate(spec.rnn_layers):
        yield from _int_range(_at(root, "rnn_layers", i, "units"), rnn.units, 1, MAX_UNITS)
        yield from _unit_interval(_at(root, "rnn_layers", i, "dropout"), rnn.dropout)
        yield from _unit_interval(_at(root, "rnn_layers", i, "recurrent_dropout"), rnn.recurrent_dropout)


def _dense_layers(spec: ModelSpec, root: FieldPath) -> Problems:
    count = len(spec.dense_layers)
    if count > MAX_LAYERS:
        yield _problem(_at(root, "dense_layers"), f"must hold at most {MAX_LAYERS} layers (got {count})")
    for i, dense in enumerate(spec.dense_layers):
        yield from _int_range(_at(root, "dense_layers", i, "units"), dense.units, 1, MAX_UNITS)
        yield from _unit_interval(_at(root, "dense_layers", i, "dropout"), dense.dropout)


# Whole-number settings and their upper bounds (all start at 1), in the order they are reported.
_INT_BOUNDS = {
    "lookback_window": MAX_LOOKBACK,
    "forecast_horizon": MAX_HORIZON,
    "batch_size": MAX_BATCH,
    "epochs": MAX_EPOCHS,
}


def _training(spec: ModelSpec, root: FieldPath) -> Problems:
    for name, high in _INT_BOUNDS.items():
        value = getattr(spec, name)
        if value is not None:  # an unset lookback is chosen from the data
            yield from _int_range(_at(root, name), value, 1, high)
    if not 0.0 < spec.learning_rate <= 1.0:
        yield _problem(
            _at(root, "learning_rate"), f"must be above 0 and at most 1 (got {spec.learning_rate})"
        )


def _ratios(spec: ModelSpec, root: FieldPath) -> Problems:
    ratios = {"validation_ratio": spec.validation_ratio, "test_ratio": spec.test_ratio}
    outside = [name for name, ratio in ratios.items() if not 0.0 < ratio < 1.0]
    for name in outside:
        yield _problem(_at(root, name), f"must be above 0 and below 1 (got {ratios[name]})")
    if not outside and spec.validation_ratio + spec.test_ratio >= 1.0:
        yield _problem(
            _at(root, "test_ratio"),
            "validationRatio + testRatio must be below 1 so that data is left for training "
            f"(got {spec.validation_ratio} + {spec.test_ratio})",
        )


def _interval_levels(spec: ModelSpec, root: FieldPath) -> Problems:
    levels = spec.interval_levels
    if len(levels) > MAX_INTERVAL_LEVELS:
        yield _problem(
            _at(root, "interval_levels"),
            f"must hold at most {MAX_INTERVAL_LEVELS} levels (got {len(levels)})",
        )
    for i, level in enumerate(levels):
        if not 0.0 < level < 1.0:
            yield _problem(_at(root, "interval_levels", i), f"must be above 0 and below 1 (got {level})")
    if len(set(levels)) != len(levels):
        yield _problem(_at(root, "interval_levels"), "must not repeat a level")


def _patience(spec: ModelSpec, root: FieldPath) -> Problems:
    patience = spec.early_stopping_patience
    if patience is not None and not 0 <= patience <= spec.epochs:
        yield _problem(
            _at(root, "early_stopping_patience"),
            f"must be between 0 (off) and epochs = {spec.epochs} (got {patience})",
        )


def _source(spec: ModelSpec, root: FieldPath) -> Problems:
    checks: dict[str, tuple[Callable[[str], str | None], str]] = {
        "entity_type": (check_ngsi_name, spec.entity_type),
        "entity_id": (check_ngsi_name, spec.entity_id),
        "feature": (check_ngsi_name, spec.feature),
        "fiware_service": (check_service, spec.fiware_service),
        "fiware_service_path": (check_service_path, spec.fiware_service_path),
    }
    for name, (check, value) in checks.items():
        problem = check(value)
        if problem:
            yield _problem(_at(root, name), problem)


_CHECKS: tuple[Callable[[ModelSpec, FieldPath], Problems], ...] = (
    _texts,
    _rnn_layers,
    _dense_layers,
    _training,
    _ratios,
    _patience,
    _interval_levels,
    _source,
)

__all__ = ["validate_spec"]
