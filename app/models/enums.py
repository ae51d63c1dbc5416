"""Enumerations of the model aggregate; stored in MongoDB as their string values."""

from __future__ import annotations

from enum import StrEnum


class ModelType(StrEnum):
    LSTM = "LSTM"
    GRU = "GRU"


class ModelStatus(StrEnum):
    DRAFT = "DRAFT"
    TRAINING = "TRAINING"
    TRAINED = "TRAINED"


class TargetMode(StrEnum):
    DELTA = "DELTA"
    LEVEL = "LEVEL"


class Activation(StrEnum):
    """Keras activation names accepted for dense layers (a closed list, checked at the edge)."""

    RELU = "relu"
    TANH = "tanh"
    SIGMOID = "sigmoid"
    LINEAR = "linear"
    ELU = "elu"
    SELU = "selu"
    GELU = "gelu"
    SWISH = "swish"
    SOFTPLUS = "softplus"
    LEAKY_RELU = "leaky_relu"


__all__ = ["Activation", "ModelStatus", "ModelType", "TargetMode"]
