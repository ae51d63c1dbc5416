"""The model aggregate: the configuration, the document and their enums.

The service (``app.models.service``) and the repository are imported by name: importing the
package must not pull in the training modules that the service calls.
"""

from app.models.config import DenseLayer, ModelConfig, ModelSpec, RnnLayer
from app.models.documents import ModelDocument
from app.models.enums import Activation, ModelStatus, ModelType, TargetMode
from app.models.spec import validate_spec

__all__ = [
    "Activation",
    "DenseLayer",
    "ModelConfig",
    "ModelDocument",
    "ModelSpec",
    "ModelStatus",
    "ModelType",
    "RnnLayer",
    "TargetMode",
    "validate_spec",
]
