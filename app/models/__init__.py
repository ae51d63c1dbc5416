"""The model aggregate: forecasting model configurations and their management."""

from app.models.documents import DenseLayer, ModelDocument, RnnLayer
from app.models.enums import Activation, ModelStatus, ModelType, TargetMode
from app.models.service import (
    MAX_PAGE_SIZE,
    ModelEdge,
    ModelFilter,
    ModelPage,
    count_models,
    create_model,
    delete_model,
    get_model,
    list_models,
    parse_id,
    spec_of,
    update_model,
)
from app.models.spec import (
    DenseLayerSpec,
    ModelSpec,
    RnnLayerSpec,
    default_name,
    effective_patience,
    validate_spec,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "Activation",
    "DenseLayer",
    "DenseLayerSpec",
    "ModelDocument",
    "ModelEdge",
    "ModelFilter",
    "ModelPage",
    "ModelSpec",
    "ModelStatus",
    "ModelType",
    "RnnLayer",
    "RnnLayerSpec",
    "TargetMode",
    "count_models",
    "create_model",
    "default_name",
    "delete_model",
    "effective_patience",
    "get_model",
    "list_models",
    "parse_id",
    "spec_of",
    "update_model",
    "validate_spec",
]
