"""Example hypermodels: an MLP for flat features and a small CNN for images."""

from kt_wandb.models._cnn import CNNHyperModel
from kt_wandb.models._mlp import MLPHyperModel

HYPERMODELS = {"mlp": MLPHyperModel, "cnn": CNNHyperModel}

__all__ = ["HYPERMODELS", "CNNHyperModel", "MLPHyperModel"]
