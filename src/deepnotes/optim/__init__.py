"""Optimisers and learning-rate schedules written from scratch, with torch.optim's interface.

Class names, arguments, defaults and state-dict layouts equal torch.optim's, so
either can replace the other and checkpoints load both ways; the tests step
each one against torch.optim on the same model and data.
"""

from deepnotes.optim.adam import Adam, AdamW
from deepnotes.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    SequentialLR,
    StepLR,
)
from deepnotes.optim.optimizer import Optimizer
from deepnotes.optim.rmsprop import RMSprop
from deepnotes.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "Optimizer",
    "RMSprop",
    "SequentialLR",
    "StepLR",
]
