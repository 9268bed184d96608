"""The model zoo: one family per file, each variant registered in `MODELS`.

Every registered builder takes `num_classes` and `input_size` (the data's
(C, H, W) or (F,)), plus its own keyword arguments, and its metadata names
the task, the paper, the concepts it teaches and a reference parameter count
with the source of that number (checked by the tests).
"""

from deepnotes.models import (
    alexnet,
    charlm,
    densenet,
    gan,
    gnn,
    inception,
    lenet,
    mlp,
    nin,
    resnet,
    senet,
    seq2seq,
    shufflenet,
    speech,
    unet,
    vae,
    vgg,
)

__all__ = [
    "alexnet",
    "charlm",
    "densenet",
    "gan",
    "gnn",
    "inception",
    "lenet",
    "mlp",
    "nin",
    "resnet",
    "senet",
    "seq2seq",
    "shufflenet",
    "speech",
    "unet",
    "vae",
    "vgg",
]
