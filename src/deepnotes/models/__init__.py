"""The model zoo: one family per file, each variant registered in `MODELS`.

Every registered builder takes `num_classes` and `input_size` (the data's
(C, H, W) or (F,)), plus its own keyword arguments, and its `ModelCard` names
the task, the paper, the concepts it teaches and a reference parameter count
with the source of that number (checked by the tests). `catalog.py` lists the
zoo with each model's size, for `deepnotes models` and `deepnotes summary`.
"""

from deepnotes.models import (
    alexnet,
    charlm,
    densenet,
    gan,
    gnn,
    graph_classifiers,
    inception,
    lenet,
    mlp,
    nin,
    physics,
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
    "graph_classifiers",
    "inception",
    "lenet",
    "mlp",
    "nin",
    "physics",
    "resnet",
    "senet",
    "seq2seq",
    "shufflenet",
    "speech",
    "unet",
    "vae",
    "vgg",
]
