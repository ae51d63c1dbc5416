"""Training jobs: documents now; admission, orchestration and cancel with the training issue."""

from app.training.documents import (
    DataCollectionJob,
    DataCollectionStatus,
    PredictionConfig,
    TrainingJobDocument,
    TrainingMetrics,
    TrainingStatus,
)

__all__ = [
    "DataCollectionJob",
    "DataCollectionStatus",
    "PredictionConfig",
    "TrainingJobDocument",
    "TrainingMetrics",
    "TrainingStatus",
]
